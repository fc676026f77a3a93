"""Exact pixel-edge polygons from label images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon


def labels_to_polygons(
    labels: np.ndarray,
    *,
    ids: Sequence[int] | np.ndarray | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
) -> dict[int, Polygon | MultiPolygon]:
    """Trace each label of an integer image into a polygon along pixel edges.

    Pixel ``(row, col)`` spans ``[col, col + 1) x [row, row + 1)``; the polygons follow those edges exactly, so they
    are valid, neighbours share edges without overlapping, and re-rasterising a polygon (pixel-centre rule) gives
    back exactly the label's pixels. Regions are 4-connected; a label with several regions gives a ``MultiPolygon``.

    Parameters
    ----------
    labels
        2-D integer label image, 0 = background.
    ids
        Labels to trace; all non-zero labels when ``None``.
    offset
        ``(x, y)`` added to every vertex, e.g. the position of a tile inside the slide.
    scale
        Size of a label pixel in the output's units (applied before ``offset``), e.g. the binning of a label image
        drawn at a coarser grid than the slide.

    Returns
    -------
    Mapping from label to its polygon, for the labels present in the image.
    """
    from affine import Affine
    from rasterio.features import shapes

    labels = np.ascontiguousarray(labels)
    if labels.ndim != 2:
        msg = f"labels must be 2-D, got shape {labels.shape}."
        raise ValueError(msg)
    if labels.size == 0:
        return {}
    if labels.dtype != np.int32:
        if labels.size and labels.max() > np.iinfo(np.int32).max:
            msg = "labels exceed the int32 range; relabel them sequentially first."
            raise ValueError(msg)
        labels = labels.astype(np.int32)
    mask = labels > 0 if ids is None else np.isin(labels, np.asarray(ids)) & (labels > 0)
    if not mask.any():
        return {}
    transform = Affine.translation(float(offset[0]), float(offset[1])) @ Affine.scale(float(scale))
    values, rings, ring_polygon = [], [], []
    for geojson, value in shapes(labels, mask=mask, connectivity=4, transform=transform):
        values.append(int(value))
        rings += geojson["coordinates"]  # the shell, then any holes
        ring_polygon += [len(values) - 1] * len(geojson["coordinates"])
    # built in bulk: one call into GEOS rather than a Python constructor per polygon
    lengths = [len(r) for r in rings]
    coords = np.asarray([xy for ring in rings for xy in ring], dtype=np.float64)
    linear = shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), lengths))
    polygons = shapely.polygons(linear, indices=np.asarray(ring_polygon))
    parts: dict[int, list[Polygon]] = {}
    for value, polygon in zip(values, polygons, strict=True):
        parts.setdefault(value, []).append(polygon)
    return {key: polys[0] if len(polys) == 1 else MultiPolygon(polys) for key, polys in parts.items()}


def smoothed_perimeter(polygons: Sequence[Polygon | MultiPolygon], *, tolerance: float = 1.0) -> np.ndarray:
    """Perimeter of pixel-edge polygons without the staircase excess.

    A staircase outline overestimates the length of a smooth boundary by up to 4/pi; simplifying it by one step of
    the staircase first (``tolerance``, in the polygons' units: their pixel side) brings the estimate within 2-7%
    for discs of radius 5-40 pixels (22% over at half a pixel).
    """
    geoms = np.asarray(polygons, dtype=object)
    lengths = np.zeros(geoms.size)
    for start in range(0, geoms.size, 10_000):  # in chunks: the simplified copies are short-lived
        chunk = geoms[start : start + 10_000]
        lengths[start : start + chunk.size] = shapely.length(shapely.simplify(chunk, tolerance, preserve_topology=True))
    return lengths
