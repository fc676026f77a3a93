"""Nuclei from the nucleus network's outputs: threshold, seeded watershed on the centre distance, size filter.

Kept apart from the network (:mod:`halo.model._nucleus_net`) so that decoding needs no torch.
"""

from __future__ import annotations

import numpy as np

from ._nuclei import NucleusOptions, _fill_holes, _within_size_limits


def nuclei_from_network(
    outputs: np.ndarray,
    *,
    um_per_px: float,
    options: NucleusOptions | None = None,
    foreground_threshold: float = 0.5,
    seed_threshold: float = 0.5,
    origin: tuple[int, int] = (0, 0),
    slide_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """int32 nucleus labels ``1..n`` from the network's ``(2, h, w)`` foreground and centre-distance probabilities.

    Pixels above ``foreground_threshold`` are nucleus (holes smaller than the smallest nucleus filled); each
    4-connected patch of nucleus pixels whose distance reaches ``seed_threshold`` seeds one nucleus, and a watershed
    on the distance grows the seeds over the nucleus pixels, so touching nuclei part where the distance dips
    between their centres. A patch of nucleus pixels that no seed reaches is one nucleus. Nuclei outside
    ``[options.min_area_um2, options.max_area_um2]`` are dropped. Deterministic, and each connected patch of nucleus
    pixels is decoded from its own pixels alone.

    Parameters
    ----------
    outputs
        Foreground and normalised distance (:data:`~halo.model._nucleus_net.NUCLEUS_OUTPUTS`), as float
        probabilities in [0, 1] or uint8 (0-255).
    um_per_px
        Pixel size of the outputs (the working grid's).
    options
        Size limits (``min_area_um2``, ``max_area_um2``); the defaults when ``None``.
    foreground_threshold, seed_threshold
        The network's own (:class:`~halo.model.NucleusNetConfig`) unless there is a reason to change them.
    origin, slide_shape
        Position of the outputs' first pixel in the slide, and the slide's shape (the outputs' by default). Pixels
        of equal distance are flooded in the slide's raster order, so a nucleus decodes alike in every window that
        holds it (the watershed's own tie-breaking depends on the window).
    """
    from scipy import ndimage
    from skimage.segmentation import watershed

    options = NucleusOptions.from_any(options)
    outputs = np.asarray(outputs)
    if outputs.ndim != 3 or outputs.shape[0] != 2:
        msg = f"outputs must be (2, h, w) foreground and distance, got shape {outputs.shape}."
        raise ValueError(msg)
    if outputs.dtype == np.uint8:
        outputs = outputs.astype(np.float32) / 255
    foreground, distance = outputs[0], outputs[1].astype(np.float32)
    mask = _fill_holes(foreground >= foreground_threshold, max_size=int(options.min_area_um2 / um_per_px**2))
    seeds, n_seeds = ndimage.label(mask & (distance >= seed_threshold))
    height, width = slide_shape or mask.shape
    rows, cols = np.ogrid[origin[0] : origin[0] + mask.shape[0], origin[1] : origin[1] + mask.shape[1]]
    elevation = -distance.astype(np.float64) + (rows * width + cols) * (1e-4 / (height * width))  # < 1/255: ties
    labels = watershed(elevation, seeds, mask=mask).astype(np.int32) if n_seeds else np.zeros(mask.shape, np.int32)
    unseeded, n_unseeded = ndimage.label(mask & (labels == 0))
    if n_unseeded:  # too thin or faint to reach the seed threshold, yet nucleus: one of its own
        labels = np.where(unseeded > 0, unseeded + n_seeds, labels).astype(np.int32)
    return _sized_and_numbered(labels, options, um_per_px)


def _sized_and_numbered(labels: np.ndarray, options: NucleusOptions, um_per_px: float) -> np.ndarray:
    """Labels within ``options``' area limits, renumbered ``1..n`` in the order of their old numbers.

    The same as ``_size_filtered`` then ``relabel_sequential_ids``, from one count of the pixels (a third of the
    decoder's time went to the two).
    """
    keep = _within_size_limits(labels, options, um_per_px)
    lut = np.where(keep, np.cumsum(keep), 0).astype(np.int32)
    return lut[labels]
