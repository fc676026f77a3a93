"""Transcripts.

Per-cell-type expression programs, library size growing with cell area, nuclear / cytoplasmic / membrane-near
localisation, diffusion into neighbours, extracellular background and control probes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cell_types import CELL_TYPES
from ._geometry import Geometry
from ._layout import Layout
from ._platforms import PlatformSettings, control_probe_names

RIM_UM = 1.0  # membrane-near band
# relative density per um^2 of compartment (nucleus, inner cytoplasm, membrane-near rim) per localisation class
LOCALISATION = np.array([[5.0, 1.0, 0.5], [0.45, 1.0, 1.0], [0.2, 0.6, 3.0]])
LOCALISATION_SHARE = (0.12, 0.7, 0.18)  # nuclear-retained, cytoplasmic, membrane / secreted
NEUROPIL_PER_UM2 = {"brain_cortex": 0.1}  # molecules in processes whose soma lies outside the section


@dataclass
class Transcripts:
    """Transcript table in image pixels (float32), gene index, true cell (0 = none) and a diffused flag."""

    x: np.ndarray
    y: np.ndarray
    gene: np.ndarray
    cell: np.ndarray
    diffused: np.ndarray
    genes: list[str]
    n_controls: int


def gene_names(n_genes: int) -> list[str]:
    """Panel gene names (synthetic, never matching a control-probe pattern)."""
    return [f"Gene{i + 1:04d}" for i in range(n_genes)]


def expression_programs(rng: np.random.Generator, n_types: int, n_genes: int) -> np.ndarray:
    """``(n_types, n_genes)`` gene probabilities: a shared log-normal abundance times type-specific markers."""
    base = rng.lognormal(0.0, 1.2, n_genes)
    programs = base * rng.lognormal(0.0, 0.6, (n_types, n_genes))
    n_markers = max(3, n_genes // 25)
    for t in range(n_types):
        markers = rng.choice(n_genes, n_markers, replace=False)
        programs[t, markers] *= rng.lognormal(np.log(25.0), 0.5, n_markers)
    return programs / programs.sum(axis=1, keepdims=True)


def draw_transcripts(
    geometry: Geometry,
    layout: Layout,
    cell_types: np.ndarray,
    settings: PlatformSettings,
    um_per_px: float,
    rng: np.random.Generator,
    *,
    n_genes: int,
    neuropil_per_um2: float = 0.0,
    platform: str,
) -> Transcripts:
    """Draw all transcripts of a field; ``cell_types`` is the layout type index of each final cell."""
    cells = geometry.cells
    n_cells = cell_types.size
    programs = expression_programs(rng, len(layout.type_names), n_genes)
    localisation = rng.choice(3, n_genes, p=LOCALISATION_SHARE)

    comp = _compartments(cells, geometry.nuclei, um_per_px)
    pixel_order, starts, areas = _pixels_by_compartment(cells, comp, n_cells)
    area_um2 = areas.sum(axis=1) * um_per_px**2
    density = np.array([CELL_TYPES[layout.type_names[t]].density for t in cell_types]) * settings.tx_scale
    counts = rng.poisson(density * area_um2 * rng.lognormal(-0.045, 0.3, n_cells))
    cell_of = np.repeat(np.arange(1, n_cells + 1), counts)
    gene_of = _genes_by_type(rng, programs, cell_types[cell_of - 1])

    # compartment: localisation preference x compartment area (x how much of the interior is cytoplasm)
    interior = np.array([CELL_TYPES[layout.type_names[t]].cytoplasm_weight for t in cell_types])
    weights = LOCALISATION[localisation[gene_of]] * areas[cell_of - 1]
    weights[:, 1] *= interior[cell_of - 1]
    weights[:, 0] *= settings.nuclear_capture
    cumulative = np.cumsum(weights, axis=1)
    pick = (rng.random(cell_of.size) * cumulative[:, -1])[:, None] >= cumulative
    which = np.minimum(pick.sum(axis=1), 2)
    key = (cell_of - 1) * 3 + which
    flat = pixel_order[starts[key] + (rng.random(cell_of.size) * (starts[key + 1] - starts[key])).astype(np.int64)]
    rows, cols = np.divmod(flat, cells.shape[1])
    x = (cols + rng.random(cell_of.size)) * um_per_px
    y = (rows + rng.random(cell_of.size)) * um_per_px

    # diffusion: molecules drift a little from where they were made; some land in a neighbour or outside any cell
    x = x + rng.normal(0, settings.diffusion_um, x.size)
    y = y + rng.normal(0, settings.diffusion_um, y.size)
    height_um, width_um = cells.shape[0] * um_per_px, cells.shape[1] * um_per_px
    kept = (x >= 0) & (x < width_um) & (y >= 0) & (y < height_um)
    x, y, gene_of, cell_of = x[kept], y[kept], gene_of[kept], cell_of[kept]

    mean_program = programs.mean(axis=0)
    free_x, free_y, free_gene = _extracellular(rng, cells, um_per_px, settings.background_per_um2, mean_program)
    neuro = [t for t, name in enumerate(layout.type_names) if name.endswith("neuron")]
    if neuropil_per_um2 > 0 and neuro:
        nx, ny, ng = _extracellular(
            rng, cells, um_per_px, neuropil_per_um2 * settings.tx_scale, programs[neuro].mean(axis=0), only_free=True
        )
        free_x, free_y, free_gene = np.r_[free_x, nx], np.r_[free_y, ny], np.r_[free_gene, ng]
    n_controls = max(4, n_genes // 20)
    n_ctrl = rng.poisson(settings.controls_per_um2 * width_um * height_um)
    ctrl_x, ctrl_y = rng.uniform(0, width_um, n_ctrl), rng.uniform(0, height_um, n_ctrl)
    ctrl_gene = n_genes + rng.integers(0, n_controls, n_ctrl)

    all_x = np.concatenate([x, free_x, ctrl_x]) / um_per_px
    all_y = np.concatenate([y, free_y, ctrl_y]) / um_per_px
    true_cell = np.concatenate([cell_of, np.zeros(free_x.size + n_ctrl, dtype=np.int64)]).astype(np.int32)
    genes_all = np.concatenate([gene_of, free_gene, ctrl_gene]).astype(np.int32)
    # float32 positions: keep them strictly inside the image after rounding
    all_x = np.minimum(all_x.astype(np.float32), np.nextafter(np.float32(cells.shape[1]), 0))
    all_y = np.minimum(all_y.astype(np.float32), np.nextafter(np.float32(cells.shape[0]), 0))
    under = cells[all_y.astype(np.int64), all_x.astype(np.int64)]
    diffused = (true_cell > 0) & (under != true_cell)
    order = rng.permutation(all_x.size)
    return Transcripts(
        x=all_x[order],
        y=all_y[order],
        gene=genes_all[order],
        cell=true_cell[order],
        diffused=diffused[order],
        genes=gene_names(n_genes) + control_probe_names(platform, n_controls),
        n_controls=n_controls,
    )


def _compartments(cells: np.ndarray, nuclei: np.ndarray, um_per_px: float) -> np.ndarray:
    """Per pixel: 0 nucleus, 1 inner cytoplasm, 2 within ``RIM_UM`` of the cell border (uint8)."""
    import cv2

    k = 2 * max(1, round(RIM_UM / um_per_px)) + 1
    kernel = np.ones((k, k), np.uint8)
    as_float = cells.astype(np.float32)  # exact for ids below 2**24
    border = (cv2.dilate(as_float, kernel) != as_float) | (cv2.erode(as_float, kernel) != as_float)
    comp = np.where(border, 2, 1).astype(np.uint8)
    comp[nuclei > 0] = 0
    return comp


def _pixels_by_compartment(cells: np.ndarray, comp: np.ndarray, n_cells: int):
    """Flat pixel indices grouped by (cell, compartment), group starts, and areas ``(n_cells, 3)`` in pixels."""
    flat = cells.ravel()
    inside = np.flatnonzero(flat)
    key = (flat[inside].astype(np.int64) - 1) * 3 + comp.ravel()[inside]
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=3 * n_cells)
    starts = np.concatenate([[0], np.cumsum(counts)])
    return inside[order], starts, counts.reshape(n_cells, 3)


def _genes_by_type(rng: np.random.Generator, programs: np.ndarray, types: np.ndarray) -> np.ndarray:
    genes = np.empty(types.size, dtype=np.int64)
    for t in np.unique(types):
        sel = np.flatnonzero(types == t)
        genes[sel] = rng.choice(programs.shape[1], sel.size, p=programs[t])
    return genes


def _extracellular(rng, cells, um_per_px, per_um2, program, *, only_free: bool = False):
    """Molecules not in any cell: uniform over the field (or over extracellular pixels only)."""
    height_um, width_um = cells.shape[0] * um_per_px, cells.shape[1] * um_per_px
    n = rng.poisson(per_um2 * width_um * height_um)
    x, y = rng.uniform(0, width_um, n), rng.uniform(0, height_um, n)
    if only_free:
        free = cells[(y / um_per_px).astype(np.int64), (x / um_per_px).astype(np.int64)] == 0
        x, y = x[free], y[free]
    return x, y, rng.choice(program.size, x.size, p=program)
