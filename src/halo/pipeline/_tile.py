"""Segment one tile: nuclei, cells, the cells the tile owns, and the cell under each of its transcripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..geometry import keep_largest_component, label_morphology, labels_to_polygons
from ..methods import (
    DapiStatistics,
    NucleusPolygons,
    NucleusTile,
    detect_nuclei,
    expand_nuclei,
    nuclei_from_labels,
    nuclei_from_probability,
)
from ..tiling import Box, Tile


@dataclass(frozen=True)
class TileContext:
    """What every tile needs to know about the run."""

    slide_shape: tuple[int, int]
    um_per_px: float
    expansion_px: float
    """Nuclear expansion: the distance grown; the model: the farthest a cell reaches from its nucleus."""
    nuclei: Any
    """:class:`~halo.methods.DapiStatistics` with ``nucleus_options``, a :class:`~halo.methods.NucleusPolygons`,
    or ``"labels"`` when the nucleus window is a label image."""
    nucleus_options: Any = None
    model: Any = None
    """:class:`ModelContext` for ``method="halo"``; ``None`` for nuclear expansion."""


@dataclass(frozen=True)
class ModelContext:
    """The network and the slide-wide constants its inputs are scaled with."""

    net: Any
    stats: Any
    """:class:`~halo.model.SlideStatistics`."""
    factor: int
    """Native pixels per model pixel along each axis."""
    nuclei_from_model: bool = False
    """Seed cells with the network's nuclei rather than with nuclei thresholded from the image."""


@dataclass
class TileInputs:
    """What one tile reads: raster windows over ``tile.window`` and the transcripts it needs."""

    nucleus_window: np.ndarray | None
    """Nuclear image or nucleus labels over the window; ``None`` for polygon nuclei."""
    image_window: np.ndarray | None
    """Nuclear image over ``raw_box``, for the model; ``None`` for nuclear expansion."""
    tx_rows: np.ndarray
    """Rows in the points element of the transcripts in the tile's core (the ones it counts)."""
    tx_x: np.ndarray
    tx_y: np.ndarray
    """Slide pixel coordinates of those transcripts."""
    window_tx: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    """``(x, y, gene)`` of every kept transcript in ``raw_box``, relative to it, for the model's inputs."""
    raw_box: Box | None = None
    """The slide box ``image_window`` covers: the window grown to whole network patches."""


@dataclass
class TileResult:
    """The cells a tile owns and the cell key of each transcript in its core."""

    keys: np.ndarray
    cell_polygons: list
    nucleus_polygons: list
    area_px: np.ndarray
    nucleus_area_px: np.ndarray
    centroid_x: np.ndarray
    centroid_y: np.ndarray
    elongation: np.ndarray
    tx_rows: np.ndarray
    tx_keys: np.ndarray
    confidence: np.ndarray | None = None


def _nuclei_for(tile: Tile, window: np.ndarray | None, context: TileContext) -> NucleusTile:
    width = context.slide_shape[1]
    if isinstance(context.nuclei, NucleusPolygons):
        return context.nuclei.tile(tile.window)
    if isinstance(context.nuclei, str):
        return nuclei_from_labels(window, tile.window, width)
    return detect_nuclei(window, tile.window, width, context.nuclei, context.nucleus_options, context.um_per_px)


def _model_probabilities(tile: Tile, inputs: TileInputs, context: TileContext) -> np.ndarray:
    """uint8 ``(3, H, W)`` cell, boundary and nucleus probabilities over the window, on the native grid."""
    from ..model import model_box, model_shape, predict_region, upsample

    model, f = context.model, context.model.factor
    probabilities = predict_region(
        model.net, np.asarray(inputs.image_window), inputs.window_tx, model.stats,
        raw_model=model_box(inputs.raw_box, f), want_model=model_box(tile.window, f),
        slide_model=model_shape(context.slide_shape, f), factor=f, um_per_px=context.um_per_px,
    )  # fmt: skip
    return upsample(probabilities, f, tile.window.shape)


def _segment_window(tile: Tile, inputs: TileInputs, context: TileContext):
    """Nuclei, cell labels over the window (cell ``i`` grown from nucleus ``i``) and, for the model, confidence."""
    if context.model is None:
        nuclei = _nuclei_for(tile, inputs.nucleus_window, context)
        return nuclei, expand_nuclei(nuclei.labels, context.expansion_px), None
    from ..model import BOUNDARY_WEIGHT_UM, cell_confidence, decode_cells

    probabilities = _model_probabilities(tile, inputs, context)
    if context.model.nuclei_from_model and isinstance(context.nuclei, DapiStatistics):
        nuclei = nuclei_from_probability(
            probabilities[2], tile.window, context.slide_shape[1], context.nucleus_options, context.um_per_px
        )
    else:
        nuclei = _nuclei_for(tile, inputs.nucleus_window, context)
    cells = decode_cells(
        probabilities[0], probabilities[1], nuclei.labels, context.expansion_px,
        boundary_weight_px=BOUNDARY_WEIGHT_UM / context.um_per_px,
        origin=(tile.window.y0, tile.window.x0), slide_shape=context.slide_shape,
    )  # fmt: skip
    return nuclei, cells, cell_confidence(probabilities[0], probabilities[1], cells, nuclei.keys.size)


def segment_tile(tile: Tile, inputs: TileInputs, context: TileContext) -> TileResult:
    """Segment the tile's window and keep what its core owns.

    Parameters
    ----------
    tile
        The tile.
    inputs
        Its raster windows and transcripts.
    context
        Settings shared by all tiles.
    """
    nuclei, cells, confidence = _segment_window(tile, inputs, context)
    nucleus_labels = keep_largest_component(np.where(cells == nuclei.labels, nuclei.labels, 0))
    n = nuclei.keys.size
    offset = (tile.window.y0, tile.window.x0)
    shape = label_morphology(cells, n, offset=offset)
    nucleus_area = np.bincount(nucleus_labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    owned = tile.core.contains(nuclei.anchors[:, 0], nuclei.anchors[:, 1]) & (shape["area"] > 0)
    owned_ids = np.flatnonzero(owned) + 1
    cell_polygons = labels_to_polygons(cells, ids=owned_ids, offset=(tile.window.x0, tile.window.y0))
    nucleus_polygons = labels_to_polygons(nucleus_labels, ids=owned_ids, offset=(tile.window.x0, tile.window.y0))

    local_rows = np.floor(inputs.tx_y).astype(np.int64) - tile.window.y0
    local_cols = np.floor(inputs.tx_x).astype(np.int64) - tile.window.x0
    under = cells[local_rows, local_cols] if inputs.tx_rows.size else np.zeros(0, np.int32)
    key_of = np.concatenate([[-1], nuclei.keys])
    return TileResult(
        keys=nuclei.keys[owned],
        cell_polygons=[cell_polygons[i] for i in owned_ids],
        nucleus_polygons=[nucleus_polygons.get(i) for i in owned_ids],
        area_px=shape["area"][owned],
        nucleus_area_px=nucleus_area[owned],
        centroid_x=shape["centroid_x"][owned],
        centroid_y=shape["centroid_y"][owned],
        elongation=shape["elongation"][owned],
        tx_rows=inputs.tx_rows,
        tx_keys=key_of[under],
        confidence=None if confidence is None else confidence[owned],
    )
