"""Small label-image operations."""

from __future__ import annotations

import numpy as np


def keep_largest_component(labels: np.ndarray) -> np.ndarray:
    """Keep only the largest 4-connected region of each label; other pixels become background.

    Cells must be one piece so that a single polygon, the pixels and the transcripts assigned to the cell agree.
    Ties between equally large regions go to the region met first in raster order.
    """
    from skimage.measure import label as connected

    components = connected(labels, connectivity=1, background=0)
    n = int(components.max())
    if n == 0:
        return labels
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    # owner label of each component: any of its pixels carries it
    owner = np.zeros(n + 1, dtype=labels.dtype)
    owner[components.ravel()] = labels.ravel()
    owner[0] = 0
    # order components by (owner, -size, id) and keep the first per owner
    comp_ids = np.arange(1, n + 1)
    order = np.lexsort((comp_ids, -sizes[1:], owner[1:]))
    first = np.ones(n, dtype=bool)
    first[1:] = owner[1:][order][1:] != owner[1:][order][:-1]
    keep = np.zeros(n + 1, dtype=bool)
    keep[comp_ids[order][first]] = True
    return np.where(keep[components], labels, 0).astype(labels.dtype, copy=False)


def relabel_sequential_ids(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel to ``1..n`` in increasing order of the old labels; return the new image and the old label of each."""
    old = np.unique(labels)
    old = old[old > 0]
    lut_size = int(labels.max()) + 1 if labels.size else 1
    if lut_size > 50_000_000:
        new = np.searchsorted(old, labels).astype(np.int32) + 1
        new[labels == 0] = 0
        return new, old
    lut = np.zeros(lut_size, dtype=np.int32)
    lut[old] = np.arange(1, old.size + 1, dtype=np.int32)
    return lut[labels], old
