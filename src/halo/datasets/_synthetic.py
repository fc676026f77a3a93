"""A small seeded synthetic SpatialData for tests, examples and the demo.

Cells are Voronoi regions around nuclei, cut off at a per-cell radius so that extracellular space remains; each cell
has one of four types with its own marker genes. The full tissue simulator (``halo.datasets.simulate``) is richer;
this one is small, fast and easy to reason about.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

CELL_TYPES = ("epithelial", "fibroblast", "immune", "endothelial")
MARKERS_PER_TYPE = 6
SHARED_GENES = 8
CONTROL_GENES = ("NegControlProbe_00001", "NegControlProbe_00002", "NegControlCodeword_0500", "BLANK_0001")


def gene_panel() -> tuple[list[str], dict[str, list[str]]]:
    """Gene names of the synthetic panel and the marker genes of each cell type."""
    markers = {t: [f"{t[:3].upper()}{i + 1}" for i in range(MARKERS_PER_TYPE)] for t in CELL_TYPES}
    shared = [f"HK{i + 1}" for i in range(SHARED_GENES)]
    return [g for t in CELL_TYPES for g in markers[t]] + shared, markers


def synthetic(
    *,
    size_um: float | tuple[float, float] = (200.0, 150.0),
    um_per_px: float = 0.2125,
    seed: int = 0,
    origin_um: tuple[float, float] = (1000.0, 500.0),
    transcripts_per_um2: float = 1.0,
):
    """Build a small synthetic Xenium-like :class:`~spatialdata.SpatialData` with ground truth.

    Parameters
    ----------
    size_um
        Field size ``(width, height)`` in micrometres, or one number for a square.
    um_per_px
        Pixel size of the nuclear image.
    seed
        Seed of the random generator: the same seed gives the same object.
    origin_um
        Micron position of the image's top-left corner, so that the micron-to-pixel transform is not a pure scale.
    transcripts_per_um2
        Mean density of transcripts inside cells.

    Returns
    -------
    A SpatialData with

    - image ``"dapi"`` (uint16, channel ``"DAPI"``; the ``"global"`` system is its pixel space),
    - points ``"transcripts"`` in micrometres (``x``, ``y``, ``feature_name``, ``qv``, ``true_cell_id``, where
      0 means extracellular), mapped to pixels by a translation and a scale,
    - labels ``"true_cells"`` and ``"true_nuclei"`` (a nucleus carries its cell's id),
    - shapes ``"true_cell_boundaries"`` (with a ``cell_type`` column) and ``"true_nucleus_boundaries"``.
    """
    width_um, height_um = (size_um, size_um) if np.isscalar(size_um) else size_um
    if min(width_um, height_um) <= 0 or um_per_px <= 0:
        msg = f"size_um and um_per_px must be positive, got size_um={size_um!r}, um_per_px={um_per_px!r}."
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    shape = (round(height_um / um_per_px), round(width_um / um_per_px))
    centres = _nucleus_centres(rng, width_um, height_um)
    cells, nuclei = _draw_cells(rng, centres, shape, um_per_px)
    n_cells = len(centres)
    cell_type = rng.integers(0, len(CELL_TYPES), n_cells)
    dapi = _draw_dapi(rng, nuclei, um_per_px)
    transcripts = _draw_transcripts(rng, cells, cell_type, um_per_px, transcripts_per_um2)
    transcripts["x"] = transcripts["x"] + origin_um[0]
    transcripts["y"] = transcripts["y"] + origin_um[1]
    logger.info("synthetic tissue: %d cells, %d transcripts, image %s", n_cells, len(transcripts), shape)
    return _to_spatialdata(dapi, transcripts, cells, nuclei, cell_type, um_per_px, origin_um)


def _nucleus_centres(rng: np.random.Generator, width: float, height: float, spacing: float = 10.5) -> np.ndarray:
    """Nucleus centres (micrometres): a jittered hexagonal lattice with a tenth of the sites left empty."""
    row_step = spacing * np.sqrt(3) / 2
    ys = np.arange(spacing / 2, height - 2, row_step)
    xs = np.arange(spacing / 2, width - 2, spacing)
    gx, gy = np.meshgrid(xs, ys)
    gx = gx + (np.arange(ys.size)[:, None] % 2) * spacing / 2
    points = np.column_stack([gx.ravel(), gy.ravel()]) + rng.normal(0, spacing * 0.12, (gx.size, 2))
    inside = (points[:, 0] > 2) & (points[:, 0] < width - 2) & (points[:, 1] > 2) & (points[:, 1] < height - 2)
    return points[inside & (rng.random(gx.size) > 0.1)]


def _draw_cells(
    rng: np.random.Generator, centres_um: np.ndarray, shape: tuple[int, int], um_per_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cell labels (Voronoi cut at a per-cell radius) and nucleus labels (an ellipse inside each cell)."""
    from scipy import ndimage

    n = len(centres_um)
    centres = centres_um / um_per_px  # (x, y) in pixels
    seeds = np.zeros(shape, dtype=np.int32)
    rows = np.clip(centres[:, 1].astype(int), 0, shape[0] - 1)
    cols = np.clip(centres[:, 0].astype(int), 0, shape[1] - 1)
    seeds[rows, cols] = np.arange(1, n + 1)
    distance, (near_r, near_c) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    owner = seeds[near_r, near_c]
    reach = rng.uniform(7.0, 11.0, n + 1) / um_per_px
    cells = np.where(distance <= reach[owner], owner, 0).astype(np.int32)

    # nuclei: random ellipses, off-centre, clipped to their own cell
    semi_a = rng.uniform(2.8, 4.5, n) / um_per_px
    semi_b = semi_a * rng.uniform(0.6, 1.0, n)
    angle = rng.uniform(0, np.pi, n)
    shift = rng.normal(0, 0.8, (n, 2)) / um_per_px
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    cx = centres[:, 0] + shift[:, 0]
    cy = centres[:, 1] + shift[:, 1]
    safe = np.maximum(owner - 1, 0)
    dx = xx + 0.5 - cx[safe]
    dy = yy + 0.5 - cy[safe]
    cos, sin = np.cos(angle[safe]), np.sin(angle[safe])
    u = (dx * cos + dy * sin) / semi_a[safe]
    v = (-dx * sin + dy * cos) / semi_b[safe]
    nuclei = np.where((u * u + v * v <= 1.0) & (cells > 0), cells, 0).astype(np.int32)
    return cells, nuclei


def _draw_dapi(rng: np.random.Generator, nuclei: np.ndarray, um_per_px: float) -> np.ndarray:
    """A 16-bit nuclear stain: per-nucleus brightness, chromatin texture, blur, background and noise."""
    from scipy import ndimage

    brightness = rng.uniform(0.55, 1.0, int(nuclei.max()) + 1)
    brightness[0] = 0.0
    texture = ndimage.gaussian_filter(rng.normal(0, 1, nuclei.shape), 0.6 / um_per_px)
    texture /= texture.std() + 1e-9
    signal = brightness[nuclei] * (1 + 0.15 * texture) * (nuclei > 0)
    signal = ndimage.gaussian_filter(signal, 0.35 / um_per_px)
    ramp = np.linspace(0.8, 1.2, nuclei.shape[1])[None, :]
    image = 3000 * signal * ramp + 150 + rng.normal(0, 40, nuclei.shape)
    return np.clip(image, 0, 65535).astype(np.uint16)


def _draw_transcripts(
    rng: np.random.Generator, cells: np.ndarray, cell_type: np.ndarray, um_per_px: float, density: float
) -> pd.DataFrame:
    """Transcripts uniformly inside cells with type-specific expression, plus background and control probes."""
    genes, markers = gene_panel()
    n_cells = int(cells.max())
    profiles = np.full((len(CELL_TYPES), len(genes)), 0.2)
    for t, name in enumerate(CELL_TYPES):
        profiles[t, [genes.index(g) for g in markers[name]]] = 6.0
    profiles[:, -SHARED_GENES:] = 1.5
    profiles /= profiles.sum(axis=1, keepdims=True)

    rows, cols = np.nonzero(cells)
    labels = cells[rows, cols]
    order = np.argsort(labels, kind="stable")
    rows, cols, labels = rows[order], cols[order], labels[order]
    starts = np.searchsorted(labels, np.arange(1, n_cells + 2))
    area_um2 = np.diff(starts) * um_per_px**2
    counts = rng.poisson(density * area_um2)
    cell_of = np.repeat(np.arange(1, n_cells + 1), counts)
    pick = starts[cell_of - 1] + (rng.random(cell_of.size) * np.diff(starts)[cell_of - 1]).astype(int)
    gene_of = _sample_genes(rng, profiles[cell_type[cell_of - 1]])

    # background molecules in extracellular space, and control probes anywhere
    free_r, free_c = np.nonzero(cells == 0)
    n_bg = rng.poisson(0.03 * free_r.size * um_per_px**2)
    bg = rng.integers(0, free_r.size, n_bg)
    n_ctrl = rng.poisson(0.01 * cells.size * um_per_px**2)
    ctrl_r = rng.integers(0, cells.shape[0], n_ctrl)
    ctrl_c = rng.integers(0, cells.shape[1], n_ctrl)

    all_r = np.concatenate([rows[pick], free_r[bg], ctrl_r])
    all_c = np.concatenate([cols[pick], free_c[bg], ctrl_c])
    names = np.asarray(genes + list(CONTROL_GENES), dtype=object)
    gene_idx = np.concatenate([gene_of, rng.integers(0, len(genes), n_bg), len(genes) + rng.integers(0, 4, n_ctrl)])
    true_cell = np.concatenate([cell_of, np.zeros(n_bg, dtype=np.int64), cells[ctrl_r, ctrl_c]])
    n = all_r.size
    frame = pd.DataFrame(
        {
            "x": ((all_c + rng.random(n)) * um_per_px).astype(np.float64),
            "y": ((all_r + rng.random(n)) * um_per_px).astype(np.float64),
            "feature_name": pd.Categorical.from_codes(gene_idx, categories=list(names)),
            "qv": np.where(rng.random(n) < 0.05, rng.uniform(5, 20, n), rng.uniform(20, 40, n)).astype(np.float32),
            "true_cell_id": true_cell.astype(np.int64),
        }
    )
    return frame.iloc[rng.permutation(n)].reset_index(drop=True)


def _sample_genes(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probabilities``."""
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random((probabilities.shape[0], 1))
    return np.minimum((draws > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _to_spatialdata(dapi, transcripts, cells, nuclei, cell_type, um_per_px, origin_um):
    import geopandas as gpd
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, Labels2DModel, PointsModel, ShapesModel
    from spatialdata.transformations import Identity

    from .._geometry import labels_to_polygons
    from ..io import microns_to_pixels

    pixels = {"global": Identity()}
    to_pixels = microns_to_pixels(um_per_px, origin_um)
    ids = np.arange(1, cell_type.size + 1)
    cell_polys = labels_to_polygons(cells)
    nucleus_polys = labels_to_polygons(nuclei)
    cell_gdf = gpd.GeoDataFrame(
        {"cell_type": pd.Categorical([CELL_TYPES[t] for t in cell_type], categories=CELL_TYPES)},
        geometry=[cell_polys.get(int(i)) for i in ids],
        index=pd.Index(ids, name="cell_id"),
    )
    cell_gdf = cell_gdf[~cell_gdf.geometry.isna()]
    kept = [i for i in ids if int(i) in nucleus_polys]
    nucleus_gdf = gpd.GeoDataFrame(geometry=[nucleus_polys[int(i)] for i in kept], index=pd.Index(kept, name="cell_id"))
    return SpatialData(
        images={
            "dapi": Image2DModel.parse(dapi[None], dims=("c", "y", "x"), c_coords=["DAPI"], transformations=pixels)
        },
        labels={
            "true_cells": Labels2DModel.parse(cells, dims=("y", "x"), transformations=pixels),
            "true_nuclei": Labels2DModel.parse(nuclei, dims=("y", "x"), transformations=pixels),
        },
        points={
            "transcripts": PointsModel.parse(
                transcripts,
                coordinates={"x": "x", "y": "y"},
                feature_key="feature_name",
                transformations={"global": to_pixels},
            )
        },
        shapes={
            "true_cell_boundaries": ShapesModel.parse(cell_gdf, transformations=pixels),
            "true_nucleus_boundaries": ShapesModel.parse(nucleus_gdf, transformations=pixels),
        },
    )
