"""Rasterise a :class:`~._layout.Layout` into cell and nucleus label images.

Every pixel goes to the cell with the smallest normalised distance ``d`` (anisotropic, optionally box-like, made
irregular by a per-cell noise window), as long as ``d <= 1`` and the pixel is not in a lumen. A smooth warp of the
pixel coordinates bends the borders so cells are not convex polygons. Cells are then cut to their largest connected
piece, so every cell is one region; nuclei are drawn inside their own cell only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._layout import Layout

WARP_UM = 1.2  # amplitude of the coordinate warp
WARP_SCALE_UM = 7.0
ROUGH_SCALE_UM = 2.5
MIN_CELL_UM2 = 6.0


@dataclass
class Geometry:
    """Label images and the per-cell / per-nucleus data that survive rasterisation.

    ``nucleus_index`` holds, per pixel, 1 + the row of ``layout.nuclei`` drawn there (for per-nucleus brightness);
    ``cell_rows`` maps final cell id ``i`` (1-based) to the layout row ``cell_rows[i - 1]``.
    """

    cells: np.ndarray
    nuclei: np.ndarray
    nucleus_index: np.ndarray
    cell_rows: np.ndarray


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Unit-variance Gaussian noise smoothed to ``scale_px``, drawn coarse and resized (cheap at any size)."""
    import cv2

    step = max(scale_px / 2.0, 1.0)
    coarse_shape = (int(np.ceil(shape[0] / step)) + 3, int(np.ceil(shape[1] / step)) + 3)
    coarse = rng.standard_normal(coarse_shape).astype(np.float32)
    coarse = cv2.GaussianBlur(coarse, (0, 0), 1.0)
    coarse /= coarse.std() + 1e-6
    full = cv2.resize(coarse, (int(coarse_shape[1] * step), int(coarse_shape[0] * step)), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(full[: shape[0], : shape[1]])


def rasterise(layout: Layout, shape: tuple[int, int], um_per_px: float, rng: np.random.Generator) -> Geometry:
    """Cell and nucleus labels of ``layout`` on a ``shape`` pixel grid of ``um_per_px``."""
    from halo._geometry import keep_largest_component

    pad = int(np.ceil(40 / um_per_px))
    rough = smooth_noise(rng, (shape[0] + pad, shape[1] + pad), ROUGH_SCALE_UM / um_per_px)
    warp_x = smooth_noise(rng, shape, WARP_SCALE_UM / um_per_px) * WARP_UM
    warp_y = smooth_noise(rng, shape, WARP_SCALE_UM / um_per_px) * WARP_UM
    best = np.full(shape, np.inf, dtype=np.float32)
    owner = np.zeros(shape, dtype=np.int32)
    c = layout.cells
    shifts = rng.integers(0, pad, (layout.n_cells, 2))
    for i in range(layout.n_cells):
        found = _rough_distance(c, i, shape, um_per_px, (warp_x, warp_y), rough, shifts[i], _amplitude(c, i))
        if found is None:
            continue
        ((r0, r1), (c0, c1)), d = found
        sub_best = best[r0:r1, c0:c1]
        closer = d < sub_best
        sub_best[closer] = d[closer]
        owner[r0:r1, c0:c1][closer] = i + 1
    lumen = _lumen_mask(layout.lumens, shape, um_per_px)
    free = np.concatenate([[False], c["free"]])
    cells = np.where((best <= 1) & (~lumen | free[owner]), owner, 0).astype(np.int32)
    _draw_neurites(layout, cells, lumen, um_per_px)
    cells = keep_largest_component(cells)
    cells, cell_rows = _drop_small(cells, MIN_CELL_UM2 / um_per_px**2)
    nuclei, nucleus_index = _draw_nuclei(layout, cells, cell_rows, um_per_px, rough, rng)
    return Geometry(cells, nuclei, nucleus_index, cell_rows)


def _rough_distance(cols, i, shape, um_per_px, warp, rough, shift, amplitude):
    """Return the pixel window of shape ``i`` and its normalised distance there, roughened by its own noise window.

    ``None`` when the shape is off the image. ``shift`` picks the shape's own window of the shared ``rough`` field.
    """
    window = _window(
        cols["x"][i],
        cols["y"][i],
        cols["a"][i],
        cols["b"][i],
        cols["angle"][i],
        1 + 2 * cols["rough"][i],
        shape,
        um_per_px,
    )
    if window is None:
        return None
    (r0, r1), (c0, c1) = window
    d = _distance(cols, i, window, um_per_px, *warp)
    dr, dc = shift
    d *= 1 + amplitude * rough[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
    return window, d


def _amplitude(cols, i) -> np.float32:
    """Relative roughness of shape ``i``, damped for large shapes so the wiggle stays a few um in absolute size."""
    return np.float32(cols["rough"][i] * min(1.0, 6.0 / np.sqrt(cols["a"][i] * cols["b"][i])))


def _window(x, y, a, b, angle, grow, shape, um_per_px):
    """Pixel bounding box ``((r0, r1), (c0, c1))`` of an (irregular) ellipse, or ``None`` if off the image."""
    cos, sin = abs(np.cos(angle)), abs(np.sin(angle))
    ex = (a * cos + b * sin) * grow + 2 * WARP_UM
    ey = (a * sin + b * cos) * grow + 2 * WARP_UM
    c0, c1 = max(int((x - ex) / um_per_px), 0), min(int(np.ceil((x + ex) / um_per_px)), shape[1])
    r0, r1 = max(int((y - ey) / um_per_px), 0), min(int(np.ceil((y + ey) / um_per_px)), shape[0])
    if c0 >= c1 or r0 >= r1:
        return None
    return (r0, r1), (c0, c1)


def _distance(cols, i, window, um_per_px, warp_x, warp_y) -> np.ndarray:
    """Normalised distance of the window's (warped) pixel centres from shape ``i`` of ``cols``."""
    (r0, r1), (c0, c1) = window
    xs = ((np.arange(c0, c1, dtype=np.float32) + 0.5) * um_per_px - np.float32(cols["x"][i]))[None, :]
    ys = ((np.arange(r0, r1, dtype=np.float32) + 0.5) * um_per_px - np.float32(cols["y"][i]))[:, None]
    dx = xs + warp_x[r0:r1, c0:c1]
    dy = ys + warp_y[r0:r1, c0:c1]
    cos, sin = np.float32(np.cos(cols["angle"][i])), np.float32(np.sin(cols["angle"][i]))
    u = (dx * cos + dy * sin) / np.float32(cols["a"][i])
    v = (dy * cos - dx * sin) / np.float32(cols["b"][i])
    power = cols["power"][i] if "power" in cols else 2.0
    if power == 2.0:
        return np.sqrt(u * u + v * v)
    p = np.float32(power)
    return (np.abs(u) ** p + np.abs(v) ** p) ** (1 / p)


def _lumen_mask(lumens: np.ndarray, shape: tuple[int, int], um_per_px: float) -> np.ndarray:
    import cv2

    mask = np.zeros(shape, dtype=np.uint8)
    shift = 4  # cv2 sub-pixel precision bits
    for x, y, a, b, angle in lumens:
        centre = (round((x / um_per_px - 0.5) * 2**shift), round((y / um_per_px - 0.5) * 2**shift))
        axes = (max(round(a / um_per_px * 2**shift), 1), max(round(b / um_per_px * 2**shift), 1))
        cv2.ellipse(mask, centre, axes, float(np.degrees(angle)), 0, 360, 1, -1, cv2.LINE_8, shift)
    return mask.astype(bool)


def _draw_neurites(layout: Layout, cells: np.ndarray, lumen: np.ndarray, um_per_px: float) -> None:
    """Paint each neurite (tapering) onto extracellular pixels with its cell's id."""
    import cv2

    if not layout.neurites:
        return
    canvas = np.zeros(cells.shape, dtype=np.float32)  # float32 holds ids exactly up to 2**24
    for cell, points, width in layout.neurites:
        px = np.round(points / um_per_px - 0.5).astype(np.int32)
        n = len(px) - 1
        for k in range(n):
            thickness = max(1, round(width * (1 - 0.6 * k / n) / um_per_px))
            cv2.line(canvas, tuple(map(int, px[k])), tuple(map(int, px[k + 1])), float(cell + 1), thickness)
    take = (canvas > 0) & (cells == 0) & ~lumen
    cells[take] = canvas[take].astype(np.int32)


def _drop_small(cells: np.ndarray, min_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Remove cells under ``min_px`` pixels and number the rest ``1..n``; return them and their layout rows."""
    from halo._geometry import relabel_sequential_ids

    sizes = np.bincount(cells.ravel())
    small = sizes < min_px
    small[0] = False
    if small.any():
        cells = np.where(small[cells], 0, cells).astype(np.int32)
    cells, old = relabel_sequential_ids(cells)
    return cells, (old - 1).astype(np.int64)


def _draw_nuclei(layout, cells, cell_rows, um_per_px, rough, rng):
    """Nucleus labels (carrying their cell's id) and the nucleus row drawn at each pixel, clipped to the cell."""
    shape = cells.shape
    new_id = np.zeros(layout.n_cells + 1, dtype=np.int32)  # layout row + 1 -> final id
    new_id[cell_rows + 1] = np.arange(1, cell_rows.size + 1, dtype=np.int32)
    nuclei = np.zeros(shape, dtype=np.int32)
    index = np.zeros(shape, dtype=np.int32)
    nu = layout.nuclei
    pad = rough.shape[0] - shape[0]
    shifts = rng.integers(0, pad, (nu["x"].size, 2))
    zero = np.zeros(shape, dtype=np.float32)  # nuclei are not warped: their outline noise is enough
    for k in range(nu["x"].size):
        cell = new_id[nu["cell"][k] + 1] if nu["cell"][k] >= 0 else 0
        if cell == 0:
            continue
        found = _rough_distance(nu, k, shape, um_per_px, (zero, zero), rough, shifts[k], nu["rough"][k])
        if found is None:
            continue
        ((r0, r1), (c0, c1)), d = found
        inside = (d <= 1) & (cells[r0:r1, c0:c1] == cell)
        nuclei[r0:r1, c0:c1][inside] = cell
        index[r0:r1, c0:c1][inside] = k + 1
    return nuclei, index
