"""Per-label morphology from pixels, vectorised over all labels of an image."""

from __future__ import annotations

import numpy as np


def label_morphology(labels: np.ndarray, n_labels: int, *, offset: tuple[int, int] = (0, 0)) -> dict[str, np.ndarray]:
    """Area, centroid and elongation of labels ``1..n_labels`` in pixel units.

    Parameters
    ----------
    labels
        2-D integer label image.
    n_labels
        Largest label to report; the arrays have this length and row ``i`` describes label ``i + 1``.
    offset
        ``(row, col)`` of the image's top-left pixel in the slide.

    Returns
    -------
    ``area`` (pixels), ``centroid_x`` and ``centroid_y`` (pixel-centre convention, slide coordinates) and
    ``elongation``: the ratio of the major to the minor axis of the label's second moments (1 for a disc).
    """
    rows, cols = np.nonzero(labels)
    lab = labels[rows, cols].astype(np.int64)
    length = n_labels + 1
    area = np.bincount(lab, minlength=length).astype(np.float64)
    safe = np.maximum(area, 1)
    # pixel centres in slide coordinates (exact in float64), so that a cell seen by any tile window sums the same
    # numbers in the same order and gets bit-identical results whatever the tiling
    y = rows + (offset[0] + 0.5)
    x = cols + (offset[1] + 0.5)
    my = np.bincount(lab, weights=y, minlength=length) / safe
    mx = np.bincount(lab, weights=x, minlength=length) / safe
    dy = y - my[lab]
    dx = x - mx[lab]
    # a single pixel has variance 1/12 along each axis
    syy = np.bincount(lab, weights=dy * dy, minlength=length) / safe + 1 / 12
    sxx = np.bincount(lab, weights=dx * dx, minlength=length) / safe + 1 / 12
    sxy = np.bincount(lab, weights=dx * dy, minlength=length) / safe
    half_trace = (sxx + syy) / 2
    root = np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
    major, minor = half_trace + root, np.maximum(half_trace - root, 1e-12)
    return {
        "area": area[1:],
        "centroid_x": mx[1:],
        "centroid_y": my[1:],
        "elongation": np.sqrt(major / minor)[1:],
    }
