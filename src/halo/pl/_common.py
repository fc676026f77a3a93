"""Shared plotting helpers: reading a segmentation's elements, cropping the image, drawing polygons and points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from spatialdata import SpatialData

    from ..io import Segmentation

#: A box ``(x0, y0, x1, y1)``, x to the right and y down, in image pixels or micrometres.
Box = tuple[float, float, float, float]

#: Colour of transcripts that belong to no cell, and of genes outside the coloured set.
GREY = "#9a9a9a"


def pixel_box(
    sdata: SpatialData,
    seg: Segmentation,
    region: Box | None,
    units: Literal["px", "um"],
    shape: tuple[int, int],
) -> tuple[int, int, int, int]:
    """Integer pixel box ``(x0, y0, x1, y1)`` of the image, clipped to it; the whole image when ``region`` is None."""
    from ..io import affine_between

    height, width = shape
    if region is None:
        return 0, 0, width, height
    if len(region) != 4:
        msg = f"region must be a box (x0, y0, x1, y1), got {region!r}."
        raise ValueError(msg)
    x0, y0, x1, y1 = (float(v) for v in region)
    if not (x1 > x0 and y1 > y0):
        msg = f"region {region!r} is empty; give (x0, y0, x1, y1) with x1 > x0 and y1 > y0."
        raise ValueError(msg)
    if units == "um":
        matrix = affine_between(sdata, seg.points_key, seg.image_key)
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], dtype=np.float64) @ matrix.T
        x0, y0 = corners[:, :2].min(axis=0)
        x1, y1 = corners[:, :2].max(axis=0)
    elif units != "px":
        msg = f"region_units must be 'px' or 'um', got {units!r}."
        raise ValueError(msg)
    box = (
        max(0, int(np.floor(x0))),
        max(0, int(np.floor(y0))),
        min(width, int(np.ceil(x1))),
        min(height, int(np.ceil(y1))),
    )
    if box[2] <= box[0] or box[3] <= box[1]:
        msg = f"region {region!r} ({units}) lies outside image {seg.image_key!r} of {width} x {height} px."
        raise ValueError(msg)
    return box


def image_shape(sdata: SpatialData, image_key: str) -> tuple[int, int]:
    """``(height, width)`` of an image element at full resolution."""
    from ..io import pyramid_levels

    full = pyramid_levels(sdata.images[image_key])[0]
    return int(full.sizes["y"]), int(full.sizes["x"])


def image_crop(
    sdata: SpatialData, image_key: str, channel: str | int, box: tuple[int, int, int, int], max_side: int
) -> np.ndarray:
    """Read the channel inside ``box`` from the coarsest pyramid level with ``max_side`` pixels along a side."""
    from ..io import channel_index, channel_names, pyramid_levels

    levels = pyramid_levels(sdata.images[image_key])
    full = levels[0]
    x0, y0, x1, y1 = box
    chosen, factor = full, 1.0
    for level in levels[1:]:
        f = full.sizes["x"] / level.sizes["x"]
        if max(x1 - x0, y1 - y0) / f < max_side:
            break
        chosen, factor = level, f
    c = channel_index(image_key, channel_names(full), channel)
    data = chosen.data[c] if "c" in chosen.dims else chosen.data
    sl = (slice(int(y0 / factor), max(int(np.ceil(y1 / factor)), int(y0 / factor) + 1)),
          slice(int(x0 / factor), max(int(np.ceil(x1 / factor)), int(x0 / factor) + 1)))  # fmt: skip
    return np.asarray(data[sl])


def show_image(ax: Axes, crop: np.ndarray, box: tuple[int, int, int, int], cmap: str) -> None:
    """Draw ``crop`` so that pixel ``i`` spans ``[i, i + 1)`` in image coordinates, contrast from percentiles."""
    finite = crop[np.isfinite(crop)] if np.issubdtype(crop.dtype, np.floating) else crop.ravel()
    low, high = np.percentile(finite, [1.0, 99.5]) if finite.size else (0.0, 1.0)
    x0, y0, x1, y1 = box
    ax.imshow(
        crop, cmap=cmap, vmin=low, vmax=max(high, low + 1e-9), extent=(x0, x1, y1, y0), interpolation="nearest",
        label="image",
    )  # fmt: skip


def shapes_in_box(sdata: SpatialData, shapes_key: str, image_key: str, box: tuple[int, int, int, int]):
    """Map a shapes element into the image's pixels and keep the geometries that touch ``box``."""
    import shapely

    from ..io import affine_between

    gdf = sdata.shapes[shapes_key]
    matrix = affine_between(sdata, shapes_key, image_key)
    geometry = gdf.geometry
    if not np.allclose(matrix, np.eye(3)):
        geometry = geometry.affine_transform(
            [matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]]
        )
    inside = geometry.intersects(shapely.box(*box))
    return geometry[inside.to_numpy()]


def draw_polygons(ax: Axes, geometry, *, edgecolor, linewidth: float, label: str, facecolor="none", alpha=1.0):
    """One polygon outline per cell as a single PolyCollection (labelled ``label``); returns the collection."""
    from matplotlib.collections import PolyCollection

    rings = []
    for geom in geometry:
        parts = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
        rings.extend(np.asarray(p.exterior.coords) for p in parts)
    collection = PolyCollection(
        rings, facecolors=facecolor, edgecolors=edgecolor, linewidths=linewidth, alpha=alpha, label=label
    )
    ax.add_collection(collection)
    return collection


def transcripts_in_box(sdata: SpatialData, seg: Segmentation, box: tuple[int, int, int, int]) -> pd.DataFrame:
    """Transcripts inside ``box`` with image-pixel ``px``, ``py``, their ``gene`` and ``cell`` (0: none).

    Only the rows whose coordinates can fall in ``box`` are read (the box mapped back into the points' space): a
    region of a gigapixel slide reads about its share of the transcripts, not all of them.
    """
    from ..io import affine_between, apply_affine, feature_key_of

    points = sdata.points[seg.points_key]
    gene_key = feature_key_of(points)
    columns = ["x", "y", gene_key] + ([seg.assignment_column] if seg.assignment_column in points.columns else [])
    matrix = affine_between(sdata, seg.points_key, seg.image_key)
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64) @ np.linalg.inv(matrix).T
    (lx, ly), (hx, hy) = corners[:, :2].min(axis=0), corners[:, :2].max(axis=0)
    margin = 1e-6 * max(1.0, np.abs(corners).max())  # the exact test below, in pixels, decides
    near = points[columns]
    near = near[(near["x"] >= lx - margin) & (near["x"] <= hx + margin) & (near["y"] >= ly - margin)
                & (near["y"] <= hy + margin)]  # fmt: skip
    frame = near.compute()
    xy = apply_affine(matrix, frame[["x", "y"]].to_numpy(np.float64))
    inside = (xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)
    cell = frame[seg.assignment_column].to_numpy() if seg.assignment_column in frame else np.zeros(len(frame), int)
    return pd.DataFrame(
        {
            "px": xy[inside, 0],
            "py": xy[inside, 1],
            "gene": frame[gene_key].astype(str).to_numpy()[inside],
            "cell": cell[inside].astype(np.int64),
        }
    )


def cell_colours(ids: np.ndarray, cmap: str = "tab20") -> np.ndarray:
    """RGBA per cell id: a cycling qualitative palette, grey for 0 (no cell)."""
    import matplotlib as mpl
    from matplotlib.colors import to_rgba

    palette = np.asarray(mpl.colormaps[cmap].colors)
    colours = np.empty((len(ids), 4))
    colours[:, :3] = palette[(np.asarray(ids) * 7) % len(palette)]  # x7 so that neighbouring ids differ
    colours[:, 3] = 1.0
    colours[np.asarray(ids) == 0] = to_rgba(GREY)
    return colours
