"""Segment one tile: nuclei, cells, the cells the tile owns, and the cell under each of its transcripts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .._geometry import RaggedPolygons, keep_largest_component, label_morphology, labels_to_ragged, smoothed_perimeter
from ..methods import Method, NucleusSource, TileData


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


def segment_tile(data: TileData, source: NucleusSource, method: Method) -> TileResult:
    """Find the nuclei of the tile's window, grow the cells, and keep what its core owns.

    Parameters
    ----------
    data
        What the tile read.
    source, method
        The run's nucleus source and method, prepared.
    """
    nuclei = source.nuclei(data)
    grown = method.segment(data, nuclei)
    cells, confidence = grown.labels, grown.confidence
    f = data.grid.factor
    tile = data.tile
    window, core = data.box, tile.core.binned(f)
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

    counted = data.transcripts_in(tile.core)  # each transcript is counted by the one tile whose core holds it
    local_rows = np.floor(counted["y"] / f).astype(np.int64) - window.y0
    local_cols = np.floor(counted["x"] / f).astype(np.int64) - window.x0
    under = cells[local_rows, local_cols] if counted["rows"].size else np.zeros(0, np.int32)
    key_of = np.concatenate([[-1], nuclei.keys])
    count_keys, count_cells, count_genes, count_values = _counts_per_cell(under, counted["gene"], nuclei.keys)
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
        tx_rows=counted["rows"],
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
