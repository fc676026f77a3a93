"""Smoothed outlines that neighbours share exactly: fewer vertices, still no gap, overlap or tiling dependence.

Outlines traced along pixel edges are staircases (~65 vertices for a cell of the 0.425 um grid, 24 bytes each in
GEOS). Here every outline is redrawn through the midpoints of its pixel edges (the marching-squares contour of the
label image) and simplified by Douglas-Peucker, one *arc* at a time: an arc is a stretch of boundary between two
nodes, the pixel corners where three or more boundary edges meet (cells, nuclei and background around it). The
arc a cell shares with its neighbour is the same run of pixel edges in both outlines; it is simplified in one
canonical direction, so both get the very same vertices. Nodes keep their exact corner.

Every pixel centre stays on its side: the midpoint contour passes at least sqrt(2)/4 px from any pixel centre and
the simplification moves it by at most :data:`TOLERANCE_PX` < sqrt(2)/4. So re-rasterising an outline (pixel-centre
rule) gives back exactly the pixels it was traced from, and a transcript's pixel is inside its cell's polygon.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from ._polygons import RaggedPolygons, _segments

TOLERANCE_PX = 0.35
"""Douglas-Peucker tolerance in pixels; below sqrt(2)/4 ~ 0.3536, the least distance from the midpoint contour to a
pixel centre."""


def smooth_shared_outlines(
    own: Sequence[RaggedPolygons], context: Sequence[RaggedPolygons], *, pixel: int, tolerance: float = TOLERANCE_PX
) -> list[RaggedPolygons]:
    """Smoothed copies of the pixel-edge outlines ``own``, vertex for vertex the same where they meet.

    Parameters
    ----------
    own
        Outlines to smooth (e.g. a tile's cells and nuclei), traced along pixel edges, rings closed.
    context
        Every other outline that may touch ``own`` (e.g. the neighbouring tiles' cells and nuclei); outlines away
        from ``own`` are ignored. Each node depends on all outlines that meet there, so an outline that touches
        ``own`` but is left out gives a different result from the one its own tile gets.
    pixel
        Side of a pixel in the outlines' units; every vertex must be a multiple of it.
    tolerance
        Douglas-Peucker tolerance in pixels.

    Returns
    -------
    One :class:`RaggedPolygons` per item of ``own``, the same geometries, polygons and rings.
    """
    own = list(own)
    if not any(r.coords.size for r in own):
        return own
    edges = [_unit_edges(_in_pixels(r.coords, pixel), r.ring_offsets) if r.coords.size else None for r in own]
    low = np.min([e[0].min(axis=0) for e in edges if e is not None], axis=0) - 2
    high = np.max([e[0].max(axis=0) for e in edges if e is not None], axis=0) + 2
    boundary = _Boundary(low, high)
    for e in edges:
        if e is not None:
            boundary.add(e[0], e[1])
    for outlines in context:
        near = _rings_in_box(outlines, low * pixel, high * pixel) if outlines.coords.size else []
        if len(near):
            corner, step, _ = _unit_edges(*_rings(outlines, near, pixel))
            boundary.add(corner, step)
    is_node = boundary.nodes()
    return [
        outlines if e is None else _smoothed(outlines, *e, is_node, pixel, tolerance)
        for outlines, e in zip(own, edges, strict=True)
    ]


class _Boundary:
    """The pixel edges that some outline runs along, in a box: the corners where three or more meet are nodes."""

    def __init__(self, low: np.ndarray, high: np.ndarray):
        self.low = low
        width, height = high - low
        self.horizontal = np.zeros((height + 1, width), bool)  # [y, x]: from corner (x, y) to (x + 1, y)
        self.vertical = np.zeros((height, width + 1), bool)  # [y, x]: from corner (x, y) to (x, y + 1)

    def add(self, corner: np.ndarray, step: np.ndarray) -> None:
        lower = corner + np.minimum(step, 0) - self.low
        across = step[:, 1] == 0
        for edges, chosen in ((self.horizontal, across), (self.vertical, ~across)):
            x, y = lower[chosen, 0], lower[chosen, 1]
            inside = (x >= 0) & (y >= 0) & (y < edges.shape[0]) & (x < edges.shape[1])
            edges[y[inside], x[inside]] = True

    def nodes(self) -> _Nodes:
        degree = np.zeros((self.vertical.shape[0] + 1, self.horizontal.shape[1] + 1), np.uint8)
        degree[:, :-1] += self.horizontal
        degree[:, 1:] += self.horizontal
        degree[:-1, :] += self.vertical
        degree[1:, :] += self.vertical
        return _Nodes(degree >= 3, self.low)


class _Nodes:
    """Whether each of some corners (pixels) is a node."""

    def __init__(self, mask: np.ndarray, low: np.ndarray):
        self.mask, self.low = mask, low

    def __call__(self, corner: np.ndarray) -> np.ndarray:
        at = corner - self.low
        return self.mask[at[:, 1], at[:, 0]]


def _edge_key(corner: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Key the edge from ``corner`` one pixel along ``step``, the same in either direction."""
    lower = corner + np.minimum(step, 0)
    return ((lower[:, 1] << 32) + lower[:, 0]) * 2 + (step[:, 0] == 0)


def _corner_key(corner: np.ndarray) -> np.ndarray:
    return (corner[:, 1] << 32) + corner[:, 0]


def _unit_edges(unit: np.ndarray, ring_offsets: np.ndarray):
    """Each ring's pixel edges in order: start corner, unit step, and ring index."""
    last = np.zeros(unit.shape[0], bool)
    last[ring_offsets[1:] - 1] = True
    starts = np.flatnonzero(~last)
    delta = unit[starts + 1] - unit[starts]
    if np.any((delta != 0).sum(axis=1) > 1):
        msg = "outlines must follow pixel edges (a diagonal segment was found)."
        raise ValueError(msg)
    length = np.abs(delta).sum(axis=1)
    step = np.sign(delta)
    segment = np.repeat(np.arange(starts.size), length)
    along = np.arange(segment.size) - np.repeat(np.cumsum(length) - length, length)
    corner = unit[starts][segment] + step[segment] * along[:, None]
    ring = np.searchsorted(ring_offsets, starts, side="right")[segment] - 1
    return corner, step[segment], ring


def _rings_in_box(outlines: RaggedPolygons, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Find the rings whose bounding box meets ``[low, high]``."""
    coords, offsets = np.asarray(outlines.coords), outlines.ring_offsets
    ring_low = np.minimum.reduceat(coords, offsets[:-1], axis=0)
    ring_high = np.maximum.reduceat(coords, offsets[:-1], axis=0)
    return np.flatnonzero(((ring_high >= low) & (ring_low <= high)).all(axis=1))


def _rings(outlines: RaggedPolygons, rings: np.ndarray, pixel: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (in pixels) and offsets of the chosen rings."""
    sizes = np.diff(outlines.ring_offsets)[rings]
    vertices = _segments(outlines.ring_offsets, rings)
    return _in_pixels(outlines.coords[vertices], pixel), np.concatenate([[0], np.cumsum(sizes)])


def _in_pixels(coords: np.ndarray, pixel: int) -> np.ndarray:
    units, rest = np.divmod(np.asarray(coords, np.int64), pixel)
    if np.any(rest) or not np.array_equal(units * pixel, coords):
        msg = "outlines must follow the edges of pixels of side `pixel`."
        raise ValueError(msg)
    return units


def _smoothed(outlines: RaggedPolygons, corner, step, ring, nodes: _Nodes, pixel, tolerance) -> RaggedPolygons:
    """``outlines`` (given as their pixel edges) through their edges' midpoints, simplified arc by arc."""
    is_node = nodes(corner)
    order = _rotated(ring, corner, step, is_node, n_rings=outlines.ring_offsets.size - 1)
    corner, step, ring, is_node = corner[order], step[order], ring[order], is_node[order]
    arcs = _Arcs.of(ring, is_node)
    first_edge, closes_at, at_node = arcs.first_edge, arcs.next_first_edge, arcs.starts_at_node

    # the canonical direction of each arc: both outlines that share it then simplify the same sequence
    def key(edges):
        return _edge_key(corner[edges], step[edges])

    first = np.where(at_node, _corner_key(corner[first_edge]), key(first_edge))
    last = np.where(at_node, _corner_key(corner[closes_at]), first)
    second = key(np.where(at_node, first_edge, first_edge + 1))
    reverse = (first > last) | ((first == last) & (second > key(arcs.last_edge)))

    # each arc: its start node, the midpoints of its edges, and its end node (or its first midpoint again). A
    # midpoint in line with the ones around it (the same step before and after its edge: a straight run or a 45
    # degree staircase) can never be the farthest from a chord, so Douglas-Peucker gives the same without it
    midpoint = np.ones(step.shape[0], bool)
    midpoint[1:-1] = (step[:-2] != step[2:]).any(axis=1)
    midpoint[first_edge] = midpoint[arcs.last_edge] = True
    slots = is_node + midpoint.astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(np.add.reduceat(slots, first_edge) + 1)])
    first_slot = np.cumsum(slots) - slots + arcs.of_edge
    points = np.empty((int(offsets[-1]), 2))
    points[first_slot[is_node]] = corner[is_node]
    points[(first_slot + is_node)[midpoint]] = corner[midpoint] + step[midpoint] / 2
    points[offsets[1:] - 1] = np.where(at_node[:, None], corner[closes_at], corner[first_edge] + step[first_edge] / 2)
    points = points[_within_segments(offsets, reverse)]

    lines = shapely.from_ragged_array(shapely.GeometryType.LINESTRING, points, (offsets,))
    simple, arc_of_point = shapely.get_coordinates(
        shapely.simplify(lines, tolerance, preserve_topology=False), return_index=True
    )
    offsets = np.searchsorted(arc_of_point, np.arange(arcs.count + 1))
    simple = simple[_within_segments(offsets, reverse)]

    # rings: each arc without its last point (the next arc's first), then the ring's first point again
    keep = np.ones(simple.shape[0], bool)
    keep[offsets[1:] - 1] = False
    arc_ring = ring[arcs.first_edge]
    ring_of_point = np.repeat(arc_ring, np.diff(offsets))[keep]
    body = simple[keep]
    ring_starts = np.searchsorted(ring_of_point, np.arange(outlines.ring_offsets.size - 1))
    sizes = np.diff(np.append(ring_starts, body.shape[0])) + 1
    ring_offsets = np.concatenate([[0], np.cumsum(sizes)])
    coords = np.empty((int(ring_offsets[-1]), 2))
    slot = np.arange(body.shape[0]) + ring_of_point  # one closing point per ring before
    coords[slot] = body
    coords[ring_offsets[1:] - 1] = body[ring_starts]
    return RaggedPolygons(
        coords * pixel, ring_offsets, outlines.polygon_offsets.copy(), outlines.geometry_offsets.copy()
    ).compact()


def _rotated(ring: np.ndarray, corner, step, is_node: np.ndarray, *, n_rings: int) -> np.ndarray:
    """Order of the edges with each ring starting at its first node, or at its least edge key without one."""
    offsets = np.searchsorted(ring, np.arange(n_rings + 1))
    size = np.diff(offsets)
    position = np.arange(ring.size) - offsets[ring]
    start = np.full(n_rings, -1)
    nodes = np.flatnonzero(is_node)[::-1]
    start[ring[nodes]] = position[nodes]  # the last written, the first node of the ring
    no_node = start < 0
    if no_node.any():  # start at the least key: the same edge whichever way the ring runs
        edges = np.flatnonzero(no_node[ring])
        keys = _edge_key(corner[edges], step[edges])
        groups = np.flatnonzero(np.r_[True, ring[edges][1:] != ring[edges][:-1]])
        least = np.repeat(np.minimum.reduceat(keys, groups), np.diff(np.r_[groups, edges.size]))
        at_least = edges[keys == least][::-1]
        start[ring[at_least]] = position[at_least]
    destination = offsets[ring] + (position - start[ring]) % size[ring]
    order = np.empty(ring.size, np.int64)
    order[destination] = np.arange(ring.size)
    return order


class _Arcs:
    """Arcs of rings whose edges run from each ring's first node (or from anywhere on a ring without one)."""

    @classmethod
    def of(cls, ring: np.ndarray, is_node: np.ndarray) -> _Arcs:
        arcs = cls()
        ring_start = np.ones(ring.size, bool)
        ring_start[1:] = ring[1:] != ring[:-1]
        begins = is_node | ring_start
        arcs.of_edge = np.cumsum(begins) - 1
        arcs.first_edge = np.flatnonzero(begins)
        arcs.count = arcs.first_edge.size
        arcs.last_edge = np.append(arcs.first_edge[1:], ring.size) - 1
        arcs.starts_at_node = is_node[arcs.first_edge]
        arc_ring = ring[arcs.first_edge]
        opens_ring = np.insert(arc_ring[1:] != arc_ring[:-1], 0, True)
        last_of_ring = np.append(opens_ring[1:], True)
        first_arc_of_ring = np.flatnonzero(opens_ring)[np.cumsum(opens_ring) - 1]
        following = np.minimum(np.arange(arcs.count) + 1, arcs.count - 1)
        arcs.next_first_edge = arcs.first_edge[np.where(last_of_ring, first_arc_of_ring, following)]
        return arcs


def _within_segments(offsets: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """Index that reverses the chosen segments ``offsets[i]:offsets[i + 1]`` in place and keeps the others."""
    index = np.arange(offsets[-1])
    segment = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    flipped = reverse[segment]
    index[flipped] = offsets[segment[flipped]] + offsets[segment[flipped] + 1] - 1 - index[flipped]
    return index
