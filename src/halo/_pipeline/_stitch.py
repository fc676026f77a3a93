"""Join tile results into slide-wide cells with ids that do not depend on the tiling."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import shapely

from .._geometry import smooth_shared_outlines
from .._memory import release_freed_memory
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


def stitch(results: list[TileResult], n_genes: int, *, pixel: int) -> Stitched:
    """Order cells by key and give them ids ``1..n``; add up each cell's transcripts over the tiles.

    Keys are slide-wide (a nucleus' first pixel in raster order, or its id in the user's segmentation), so the same
    input yields the same ids whatever the tile size. Outlines, traced on pixels of side ``pixel``, are smoothed
    along the arcs neighbours share (:func:`~halo._geometry._outlines.smooth_shared_outlines`).
    """
    keys = np.concatenate([r.keys for r in results]) if results else np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if sorted_keys.size > 1 and (np.diff(sorted_keys) == 0).any():
        msg = "Internal error: two tiles claimed the same cell. Please report this with the tile settings."
        raise RuntimeError(msg)
    per_cell = {name: np.concatenate([getattr(r, name) for r in results])[order] for name in _PER_CELL}
    if results and results[0].confidence is not None:
        per_cell["confidence"] = np.concatenate([r.confidence for r in results])[order]
    stitched = Stitched(keys=sorted_keys, cell_polygons=None, nucleus_polygons=None, per_cell=per_cell, counts=None)
    stitched.counts = _counts(results, stitched, n_genes)  # first: the tiles' count triples go before outlines grow
    cell_polygons, nucleus_polygons = _outlines(results, pixel)
    empty = [np.zeros(0, object)]
    stitched.cell_polygons = np.concatenate(cell_polygons or empty)[order]
    stitched.nucleus_polygons = np.concatenate(nucleus_polygons or empty)[order]
    return stitched


def _counts(results: list[TileResult], stitched: Stitched, n_genes: int):
    """Cells x genes CSR matrix filled tile by tile into arrays sized once: no COO copy of the whole slide.

    A cell's transcripts can lie in several tiles' cores; the same gene counted by two tiles is summed at the end.
    """
    from scipy import sparse

    def entries(r: TileResult) -> tuple[np.ndarray, np.ndarray]:
        rows = stitched.ids_of(r.count_keys)[r.count_cells].astype(np.int64) - 1
        return rows, rows >= 0  # a transcript under a cell no tile kept (its nucleus was filtered) is not counted

    per_row = np.zeros(stitched.n_cells + 1, np.int64)
    for r in results:
        rows, counted = entries(r)
        per_row[1:] += np.bincount(rows[counted], minlength=stitched.n_cells)
    indptr = np.cumsum(per_row)
    index_type = np.int32 if indptr[-1] < 2**31 else np.int64
    indices, data = np.empty(indptr[-1], index_type), np.empty(indptr[-1], np.int32)
    filled = indptr[:-1].copy()
    for r in results:  # each tile's entries go after those of the tiles before, row by row
        rows, counted = entries(r)
        rows = rows[counted]
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        rank = np.arange(rows.size) - np.searchsorted(rows, rows)
        at = filled[rows] + rank
        indices[at] = r.count_genes[counted][order]
        data[at] = r.count_values[counted][order]
        filled += np.bincount(rows, minlength=stitched.n_cells)
        r.count_keys = r.count_cells = r.count_genes = r.count_values = None
    matrix = sparse.csr_matrix((data, indices, indptr), shape=(stitched.n_cells, n_genes))
    matrix.sum_duplicates()
    return matrix


def _outlines(results: list[TileResult], pixel: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each tile's cell and nucleus outlines, smoothed with its neighbours' as context, as shapely geometries.

    Tiles are smoothed in parallel threads (GEOS and numpy let go of the GIL). A tile's traced outlines are context
    for its neighbours: they are dropped as soon as the tile and its neighbours are done.
    """
    from concurrent.futures import ThreadPoolExecutor

    if any(np.any(np.asarray(o.coords) % pixel) for r in results for o in (r.cell_polygons, r.nucleus_polygons)):
        pixel = 1  # outlines on a finer grid than the working one (a user's nucleus labels): every tile alike
    boxes = np.array([_extent(r) for r in results]).reshape(-1, 4)

    def smooth(i: int) -> tuple[np.ndarray, np.ndarray, int]:
        context = [o for j in near[i] if j != i for o in (results[j].cell_polygons, results[j].nucleus_polygons)]
        own = (results[i].cell_polygons, results[i].nucleus_polygons)
        out, n_exact = [], 0
        for traced, smoothed in zip(own, smooth_shared_outlines(own, context, pixel=pixel), strict=True):
            geoms = smoothed.to_shapely()
            invalid = np.flatnonzero(~shapely.is_valid(geoms) & np.not_equal(geoms, None))
            if invalid.size:  # never seen; kept exact rather than lost
                geoms[invalid] = traced.to_shapely()[invalid]
                n_exact += invalid.size
            out.append(geoms)
        return out[0], out[1], n_exact

    near = [_near(boxes, i, pixel) for i in range(len(results))]
    waiting = np.bincount(np.concatenate(near), minlength=len(results)) if near else np.zeros(0, np.int64)
    done = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for i, outcome in enumerate(pool.map(smooth, range(len(results)))):
            done.append(outcome)
            waiting[near[i]] -= 1
            for j in near[i][waiting[near[i]] == 0]:
                results[j].cell_polygons = results[j].nucleus_polygons = None
            release_freed_memory()  # the threads' scratch arrays: without this the heap creeps up by ~0.2 GB
    n_exact = sum(d[2] for d in done)
    if n_exact:
        logger.warning("%d outlines could not be smoothed and keep their pixel edges", n_exact)
    return [d[0] for d in done], [d[1] for d in done]


def _near(boxes: np.ndarray, i: int, pixel: int) -> np.ndarray:
    """Tiles whose outlines can touch tile ``i``'s (``i`` included)."""
    low, high = boxes[i, :2] - pixel, boxes[i, 2:] + pixel
    return np.flatnonzero((boxes[:, :2] <= high).all(axis=1) & (boxes[:, 2:] >= low).all(axis=1))


def _extent(result: TileResult) -> list[float]:
    """``[x0, y0, x1, y1]`` of a tile's outlines (an empty box when it has none)."""
    coords = [np.asarray(o.coords) for o in (result.cell_polygons, result.nucleus_polygons) if o.coords.size]
    if not coords:
        return [np.inf, np.inf, -np.inf, -np.inf]
    return [*np.min([c.min(axis=0) for c in coords], axis=0), *np.max([c.max(axis=0) for c in coords], axis=0)]
