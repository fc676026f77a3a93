"""Join tile results into slide-wide cells with ids that do not depend on the tiling."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._tile import TileResult

logger = logging.getLogger(__name__)

_PER_CELL = ("area_px", "nucleus_area_px", "centroid_x", "centroid_y", "elongation", "perimeter_px", "hull_area_px")


@dataclass
class Stitched:
    """Slide-wide cells, in increasing order of their keys; cell ``i`` has id ``i + 1``."""

    keys: np.ndarray
    cell_polygons: np.ndarray
    nucleus_polygons: np.ndarray
    """Object arrays of shapely polygons; ``None`` for a cell without a nucleus outline."""
    per_cell: dict[str, np.ndarray]
    counts: object
    """Sparse int32 cells x genes matrix of the transcripts under each cell."""

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.keys.size)

    def ids_of(self, keys: np.ndarray) -> np.ndarray:
        """Cell id of each key, 0 for a key of no cell (-1, or a cell no tile kept)."""
        if self.keys.size == 0:
            return np.zeros(keys.shape, np.int32)
        position = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        found = (keys >= 0) & (self.keys[position] == keys)
        return np.where(found, position + 1, 0).astype(np.int32)


def stitch(results: list[TileResult], n_genes: int) -> Stitched:
    """Order cells by key and give them ids ``1..n``; add up each cell's transcripts over the tiles.

    Keys are slide-wide (a nucleus' first pixel in raster order, or its id in the user's segmentation), so the same
    input yields the same ids whatever the tile size.
    """
    from scipy import sparse

    keys = np.concatenate([r.keys for r in results]) if results else np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if sorted_keys.size > 1 and (np.diff(sorted_keys) == 0).any():
        msg = "Internal error: two tiles claimed the same cell. Please report this with the tile settings."
        raise RuntimeError(msg)
    cell_polygons, nucleus_polygons = [], []
    for r in results:  # tile by tile: the float copies of the vertices stay small
        cell_polygons.append(r.cell_polygons.to_shapely())
        nucleus_polygons.append(r.nucleus_polygons.to_shapely())
        r.cell_polygons = r.nucleus_polygons = None
    empty = [np.zeros(0, object)]
    cell_polygons = np.concatenate(cell_polygons or empty)[order]
    nucleus_polygons = np.concatenate(nucleus_polygons or empty)[order]
    per_cell = {name: np.concatenate([getattr(r, name) for r in results])[order] for name in _PER_CELL}
    if results and results[0].confidence is not None:
        per_cell["confidence"] = np.concatenate([r.confidence for r in results])[order]
    stitched = Stitched(
        keys=sorted_keys,
        cell_polygons=cell_polygons,
        nucleus_polygons=nucleus_polygons,
        per_cell=per_cell,
        counts=None,
    )
    rows, genes, values = [], [], []
    for r in results:  # tile by tile, each tile's arrays released once taken: no second copy of them all
        ids = stitched.ids_of(r.count_keys)[r.count_cells]
        counted = ids > 0  # a transcript under a cell no tile kept (its nucleus was filtered) is not counted
        rows.append(ids[counted] - 1)
        genes.append(r.count_genes[counted])
        values.append(r.count_values[counted])
        r.count_keys = r.count_cells = r.count_genes = r.count_values = None
    empty = [np.zeros(0, np.int32)]
    matrix = sparse.coo_matrix(
        (
            np.concatenate(values or empty).astype(np.int32),
            (np.concatenate(rows or empty), np.concatenate(genes or empty).astype(np.int32)),
        ),
        shape=(stitched.n_cells, n_genes),
    ).tocsr()
    matrix.sum_duplicates()
    stitched.counts = matrix.astype(np.int32, copy=False)
    return stitched
