"""Join tile results into slide-wide cells with ids that do not depend on the tiling."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._tile import TileResult

logger = logging.getLogger(__name__)

_PER_CELL = ("area_px", "nucleus_area_px", "centroid_x", "centroid_y", "elongation")


@dataclass
class Stitched:
    """Slide-wide cells, in increasing order of their keys; cell ``i`` has id ``i + 1``."""

    keys: np.ndarray
    cell_polygons: list
    nucleus_polygons: list
    per_cell: dict[str, np.ndarray]
    assignment: np.ndarray
    """Cell id of every row of the points element, 0 for none."""

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.keys.size)


def stitch(results: list[TileResult], n_transcripts: int) -> Stitched:
    """Order cells by key and give them ids ``1..n``; map every transcript's key to its cell id.

    Keys are slide-wide (a nucleus' first pixel in raster order, or its id in the user's segmentation), so the same
    input yields the same ids whatever the tile size.
    """
    keys = np.concatenate([r.keys for r in results]) if results else np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if sorted_keys.size > 1 and (np.diff(sorted_keys) == 0).any():
        msg = "Internal error: two tiles claimed the same cell. Please report this with the tile settings."
        raise RuntimeError(msg)
    cell_polygons = [p for r in results for p in r.cell_polygons]
    nucleus_polygons = [p for r in results for p in r.nucleus_polygons]
    per_cell = {name: np.concatenate([getattr(r, name) for r in results])[order] for name in _PER_CELL}
    if results and results[0].confidence is not None:
        per_cell["confidence"] = np.concatenate([r.confidence for r in results])[order]

    assignment = np.zeros(n_transcripts, dtype=np.int64)
    for r in results:
        position = np.searchsorted(sorted_keys, r.tx_keys)
        position = np.minimum(position, max(sorted_keys.size - 1, 0))
        found = (r.tx_keys >= 0) & (sorted_keys.size > 0)
        found &= sorted_keys[position] == r.tx_keys if sorted_keys.size else found
        assignment[r.tx_rows[found]] = position[found] + 1
    return Stitched(
        keys=sorted_keys,
        cell_polygons=[cell_polygons[i] for i in order],
        nucleus_polygons=[nucleus_polygons[i] for i in order],
        per_cell=per_cell,
        assignment=assignment,
    )
