"""Segment one tile: nuclei, cells, the cells the tile owns, and the cell under each of its transcripts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from .._geometry import block_mean, block_sample, keep_largest_component, label_morphology
from .._geometry._polygons import RaggedPolygons, labels_to_ragged, smoothed_perimeter
from .._tiling import Box, Tile
from ..methods import (
    DapiStatistics,
    NucleusPolygons,
    NucleusTile,
    detect_nuclei,
    expand_nuclei,
    nuclei_from_labels,
    nuclei_from_probability,
)


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
    factor: int = 1
    """Native pixels per pixel of the grid a tile works on, along each axis (:func:`~halo._tiling.bin_factor`): the
    network's grid, for nuclear expansion too, so that no native-resolution copy of a window's labels is ever made
    and both methods grow cells from the same nuclei. ``expansion_px`` and polygon nuclei are on this grid."""

    @property
    def grid_shape(self) -> tuple[int, int]:
        """The slide's shape on the working grid."""
        return Box(0, self.slide_shape[0], 0, self.slide_shape[1]).binned(self.factor).shape

    @property
    def grid_um_per_px(self) -> float:
        """Micrometres per working-grid pixel."""
        return self.um_per_px * self.factor


@dataclass(frozen=True)
class ModelContext:
    """The network and the slide-wide constants its inputs are scaled with."""

    net: Any
    stats: Any
    """:class:`~halo.model.SlideStatistics`."""
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
    tx_gene: np.ndarray
    """Their gene indices."""
    window_tx: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    """``(x, y, gene)`` of every kept transcript in ``raw_box``, relative to it, for the model's inputs."""
    raw_box: Box | None = None
    """The slide box ``image_window`` covers: the window grown to whole network patches."""


@dataclass
class TileResult:
    """The cells a tile owns and the cell key of each transcript in its core."""

    keys: np.ndarray
    cell_polygons: RaggedPolygons
    nucleus_polygons: RaggedPolygons
    """Outlines of the owned cells and of their nuclei (``None`` for a cell whose nucleus it covers nowhere)."""
    area_px: np.ndarray
    nucleus_area_px: np.ndarray
    centroid_x: np.ndarray
    centroid_y: np.ndarray
    elongation: np.ndarray
    perimeter_px: np.ndarray
    """Outline length without the staircase excess (:func:`~halo._geometry._polygons.smoothed_perimeter`)."""
    hull_area_px: np.ndarray
    """Area of the outline's convex hull."""
    tx_rows: np.ndarray | None
    tx_keys: np.ndarray | None
    """Rows of the core's transcripts and the key of the cell under each (-1 for none); the cell may be owned by a
    neighbouring tile. Dropped once saved to the scratch folder, so that results stay small."""
    count_keys: np.ndarray
    """Keys of the cells under the core's transcripts (owned here or by a neighbour), each once."""
    count_cells: np.ndarray
    count_genes: np.ndarray
    count_values: np.ndarray
    """Transcripts of the core per (cell, gene): the cell as a position in ``count_keys``; the smallest unsigned
    types that hold them, as these pile up for the whole slide."""
    confidence: np.ndarray | None = None


def _nuclei_for(tile: Tile, window: np.ndarray | None, context: TileContext) -> NucleusTile:
    """Nuclei over the tile's window on the working grid, from the image, a label image or polygons."""
    f, box, width = context.factor, tile.window.binned(context.factor), context.grid_shape[1]
    if isinstance(context.nuclei, NucleusPolygons):
        return context.nuclei.tile(box)
    if isinstance(context.nuclei, str):
        return nuclei_from_labels(block_sample(np.asarray(window), f), box, width)
    image = block_mean(window, f)
    return detect_nuclei(image, box, width, context.nuclei, context.nucleus_options, context.grid_um_per_px)


def _model_probabilities(tile: Tile, inputs: TileInputs, context: TileContext, needed=None) -> np.ndarray:
    """uint8 ``(3, h, w)`` cell, boundary and nucleus probabilities over the window, on the network's grid."""
    from ..model import predict_region

    model, f = context.model, context.factor
    raw, want = inputs.raw_box.binned(f), tile.window.binned(f)
    return predict_region(
        model.net, np.asarray(inputs.image_window), inputs.window_tx, model.stats,
        raw_model=(raw.y0, raw.y1, raw.x0, raw.x1), want_model=(want.y0, want.y1, want.x0, want.x1),
        slide_model=context.grid_shape, factor=f, um_per_px=context.um_per_px, needed=needed,
    )  # fmt: skip


def _segment_window(tile: Tile, inputs: TileInputs, context: TileContext):
    """Nuclei, cell labels over the window (cell ``i`` grown from nucleus ``i``) and, for the model, confidence.

    All on the working grid.
    """
    if context.model is None:
        nuclei = _nuclei_for(tile, inputs.nucleus_window, context)
        return nuclei, expand_nuclei(nuclei.labels, context.expansion_px), None
    from ..methods import BOUNDARY_WEIGHT_UM, cell_confidence, decode_cells, nucleus_distance

    box = tile.window.binned(context.factor)
    if context.model.nuclei_from_model and isinstance(context.nuclei, DapiStatistics):
        probabilities = _model_probabilities(tile, inputs, context)
        nuclei = nuclei_from_probability(
            probabilities[2], box, context.grid_shape[1], context.nucleus_options, context.grid_um_per_px
        )
        distance = None
    else:  # nuclei first: the network only runs where a cell can reach
        nuclei = _nuclei_for(tile, inputs.nucleus_window, context)
        distance = nucleus_distance(nuclei.labels)
        probabilities = _model_probabilities(tile, inputs, context, needed=distance <= context.expansion_px)
    cells = decode_cells(
        probabilities[0], probabilities[1], nuclei.labels, context.expansion_px,
        boundary_weight_px=BOUNDARY_WEIGHT_UM / context.grid_um_per_px,
        origin=(box.y0, box.x0), slide_shape=context.grid_shape, distance=distance,
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
    f = context.factor
    window, core = tile.window.binned(f), tile.core.binned(f)
    nucleus_labels = keep_largest_component(np.where(cells == nuclei.labels, nuclei.labels, 0))
    n = nuclei.keys.size
    shape = label_morphology(cells, n, offset=(window.y0, window.x0))
    nucleus_area = np.bincount(nucleus_labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    owned = core.contains(nuclei.anchors[:, 0], nuclei.anchors[:, 1]) & (shape["area"] > 0)
    owned_ids = np.flatnonzero(owned) + 1
    # polygons and morphology go back to native pixels: grid pixel i covers native pixels [i f, (i + 1) f)
    corner = (window.x0 * f, window.y0 * f)
    cell_polygons = labels_to_ragged(cells, owned_ids, offset=corner, scale=f)
    nucleus_polygons = labels_to_ragged(nucleus_labels, owned_ids, offset=corner, scale=f)
    # measured here, in parallel, rather than over the whole slide's outlines in the driver
    outlines = cell_polygons.to_shapely()
    perimeter_px = smoothed_perimeter(outlines, tolerance=float(f))
    hull_area_px = shapely.area(shapely.convex_hull(outlines))

    local_rows = np.floor(inputs.tx_y / f).astype(np.int64) - window.y0
    local_cols = np.floor(inputs.tx_x / f).astype(np.int64) - window.x0
    under = cells[local_rows, local_cols] if inputs.tx_rows.size else np.zeros(0, np.int32)
    key_of = np.concatenate([[-1], nuclei.keys])
    count_keys, count_cells, count_genes, count_values = _counts_per_cell(under, inputs.tx_gene, nuclei.keys)
    return TileResult(
        keys=nuclei.keys[owned],
        cell_polygons=cell_polygons,
        nucleus_polygons=nucleus_polygons,
        area_px=shape["area"][owned] * f**2,
        nucleus_area_px=nucleus_area[owned] * f**2,
        centroid_x=shape["centroid_x"][owned] * f,
        centroid_y=shape["centroid_y"][owned] * f,
        elongation=shape["elongation"][owned],
        perimeter_px=perimeter_px,
        hull_area_px=hull_area_px,
        tx_rows=inputs.tx_rows,
        tx_keys=key_of[under],
        count_keys=count_keys,
        count_cells=count_cells,
        count_genes=count_genes,
        count_values=count_values,
        confidence=None if confidence is None else confidence[owned],
    )


def _counts_per_cell(labels: np.ndarray, gene: np.ndarray, keys: np.ndarray):
    """Keys of the cells under transcripts, then ``(cell, gene, count)`` with the cell as a position among them.

    ``labels`` is each transcript's local label (0 for none), ``gene`` its gene.
    """
    under = labels > 0
    n_genes = int(gene.max()) + 1 if gene.size else 1
    pairs, counts = np.unique(labels[under].astype(np.int64) * n_genes + gene[under], return_counts=True)
    label, genes = np.divmod(pairs, n_genes)
    present, cell = np.unique(label, return_inverse=True)
    return keys[present - 1], _small(cell), _small(genes), _small(counts)


def _small(values: np.ndarray) -> np.ndarray:
    """Non-negative integers in the smallest unsigned type that holds them."""
    return values.astype(np.min_scalar_type(int(values.max()) if values.size else 0))
