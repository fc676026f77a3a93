"""Rasters on a coarser grid: mean intensity and central label of square blocks of pixels."""

from __future__ import annotations

import numpy as np


def block_mean(window: np.ndarray, factor: int, transform=None) -> np.ndarray:
    """float32 mean over ``factor`` x ``factor`` blocks of ``transform(window)``, a band of rows at a time.

    A partial block at the bottom or right repeats the edge. Working in bands keeps the float copies of a large
    window small; each block's mean is the same as over the whole window at once.
    """
    window = np.asarray(window)
    height, width = -(-window.shape[0] // factor), -(-window.shape[1] // factor)
    out = np.empty((height, width), np.float32)
    band = max(1, 256 // factor)  # output rows per band
    for top in range(0, height, band):
        rows = window[top * factor : (top + band) * factor].astype(np.float32)
        if transform is not None:
            rows = transform(rows)
        n = -(-rows.shape[0] // factor)
        pad = ((0, n * factor - rows.shape[0]), (0, width * factor - rows.shape[1]))
        if any(p[1] for p in pad):
            rows = np.pad(rows, pad, mode="edge")
        # rows of each block first, then its columns: faster than one mean over two strided axes
        summed = rows.reshape(n, factor, width * factor).sum(axis=1)
        out[top : top + n] = summed.reshape(n, width, factor).sum(axis=2) / (factor * factor)
    return out


def sampled_pixel(factor: int) -> int:
    """Give the row (and column) within each ``factor`` x ``factor`` block whose label :func:`block_sample` takes.

    The middle one: half a pixel past the block's centre when ``factor`` is even.
    """
    return factor // 2


def block_sample(labels: np.ndarray, factor: int) -> np.ndarray:
    """The label at the centre of each ``factor`` x ``factor`` block (labels cannot be averaged)."""
    if factor == 1:
        return labels
    height, width = -(-labels.shape[0] // factor), -(-labels.shape[1] // factor)
    rows = np.minimum(np.arange(height) * factor + sampled_pixel(factor), labels.shape[0] - 1)
    cols = np.minimum(np.arange(width) * factor + sampled_pixel(factor), labels.shape[1] - 1)
    return labels[np.ix_(rows, cols)]
