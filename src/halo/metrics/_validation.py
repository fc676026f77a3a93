"""Input checks shared by the metrics (private)."""

from __future__ import annotations

import numpy as np


def check_label_image(labels: object, name: str) -> np.ndarray:
    """Return ``labels`` as a non-negative integer ``ndarray`` or raise a ``ValueError`` saying how to fix it."""
    arr = np.asarray(labels)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        msg = (
            f"`{name}` must be an integer label image (0 = background, one positive id per cell), "
            f"got dtype {arr.dtype}. Convert a boolean mask with `skimage.measure.label(mask)` "
            "and integral floats with `.astype(np.int64)`."
        )
        raise ValueError(msg)
    if arr.size and np.issubdtype(arr.dtype, np.signedinteger) and arr.min() < 0:
        msg = (
            f"`{name}` has negative labels (min {arr.min()}); label images use 0 for background and "
            "positive ids for cells. Map negative values to 0 first, e.g. `np.where(labels < 0, 0, labels)`."
        )
        raise ValueError(msg)
    if arr.size and arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
        msg = f"`{name}` has labels above 2**63 - 1; relabel it, e.g. with `skimage.segmentation.relabel_sequential`."
        raise ValueError(msg)
    return arr


def check_id_vector(ids: object, name: str) -> np.ndarray:
    """Return per-transcript cell ids as a 1-D integer ``ndarray`` or raise a ``ValueError``."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        msg = f"`{name}` must be a 1-D array with one cell id per transcript, got shape {arr.shape}."
        raise ValueError(msg)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        msg = (
            f"`{name}` must hold integer cell ids (<= 0 = unassigned), got dtype {arr.dtype}. "
            "Encode string ids with `codes, uniques = pandas.factorize(ids)` (then `codes + 1`, with the "
            "unassigned value mapped to 0), and integral floats with `np.nan_to_num(ids, nan=0).astype(np.int64)`."
        )
        raise ValueError(msg)
    return arr
