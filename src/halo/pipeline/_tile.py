"""Segment one tile: nuclei, cells, the cells the tile owns, and the cell under each of its transcripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..geometry import keep_largest_component, label_morphology, labels_to_polygons
from ..methods import NucleusPolygons, NucleusTile, detect_nuclei, expand_nuclei, nuclei_from_labels
from ..tiling import Tile


@dataclass(frozen=True)
class TileContext:
    """What every tile needs to know about the run."""

    slide_shape: tuple[int, int]
    um_per_px: float
    expansion_px: float
    nuclei: Any
    """:class:`~halo.methods.DapiStatistics` with ``nucleus_options``, a :class:`~halo.methods.NucleusPolygons`,
    or ``"labels"`` when the nucleus window is a label image."""
    nucleus_options: Any = None


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


def _nuclei_for(tile: Tile, window: np.ndarray | None, context: TileContext) -> NucleusTile:
    width = context.slide_shape[1]
    if isinstance(context.nuclei, NucleusPolygons):
        return context.nuclei.tile(tile.window)
    if isinstance(context.nuclei, str):
        return nuclei_from_labels(window, tile.window, width)
    return detect_nuclei(window, tile.window, width, context.nuclei, context.nucleus_options, context.um_per_px)


def segment_tile(
    tile: Tile, window: np.ndarray | None, tx_rows: np.ndarray, tx_x: np.ndarray, tx_y: np.ndarray, context: TileContext
) -> TileResult:
    """Segment the tile's window and keep what its core owns.

    Parameters
    ----------
    tile
        The tile.
    window
        The nuclear image (or nucleus labels) over ``tile.window``; ``None`` for polygon nuclei.
    tx_rows, tx_x, tx_y
        Row numbers in the points element and pixel coordinates of the transcripts in ``tile.core``.
    context
        Settings shared by all tiles.
    """
    nuclei = _nuclei_for(tile, window, context)
    cells = expand_nuclei(nuclei.labels, context.expansion_px)
    nucleus_labels = keep_largest_component(np.where(cells == nuclei.labels, nuclei.labels, 0))
    n = nuclei.keys.size
    offset = (tile.window.y0, tile.window.x0)
    shape = label_morphology(cells, n, offset=offset)
    nucleus_area = np.bincount(nucleus_labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    owned = tile.core.contains(nuclei.anchors[:, 0], nuclei.anchors[:, 1]) & (shape["area"] > 0)
    owned_ids = np.flatnonzero(owned) + 1
    cell_polygons = labels_to_polygons(cells, ids=owned_ids, offset=(tile.window.x0, tile.window.y0))
    nucleus_polygons = labels_to_polygons(nucleus_labels, ids=owned_ids, offset=(tile.window.x0, tile.window.y0))

    local_rows = np.floor(tx_y).astype(np.int64) - tile.window.y0
    local_cols = np.floor(tx_x).astype(np.int64) - tile.window.x0
    under = cells[local_rows, local_cols] if tx_rows.size else np.zeros(0, np.int32)
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
        tx_rows=tx_rows,
        tx_keys=key_of[under],
    )
