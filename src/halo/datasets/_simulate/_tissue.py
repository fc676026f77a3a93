"""``simulate_tissue``: one simulated field as plain numpy arrays with exact ground truth."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ._archetypes import ARCHETYPES, LAYOUTS
from ._dapi import render_dapi
from ._geometry import rasterise
from ._layout import Layout, SmoothField
from ._platforms import platform_settings
from ._transcripts import NEUROPIL_PER_UM2, draw_transcripts

logger = logging.getLogger(__name__)

TISSUES = (*ARCHETYPES, "mixed", "random")


@dataclass(eq=False)
class Tissue:
    """A simulated field: nuclear image, transcripts and their exact ground truth (all in image pixels).

    Attributes
    ----------
    dapi
        ``(H, W)`` nuclear stain, ``uint16`` or ``uint8``.
    cells
        ``(H, W)`` int32 cell labels ``1..n``, 0 = extracellular. Every cell is one 4-connected region.
    nuclei
        ``(H, W)`` int32; nucleus pixels carry their cell's id and lie inside that cell. Multinucleated cells have
        several pieces with the same id; a cell whose nucleus is out of the section plane has none.
    tx_x, tx_y
        float32 transcript positions in pixel units of ``dapi`` (pixel ``i`` spans ``[i, i + 1)``).
    tx_gene
        int32 index into ``genes``; control probes are the last genes, named like the platform's controls.
    tx_cell
        int32 true cell of each transcript (the cell that made it), 0 = extracellular background, neuropil or a
        control probe.
    genes
        Gene names.
    cell_type
        Per cell (row ``i`` = cell ``i + 1``) index into ``cell_type_names``.
    cell_type_names
        Cell type names.
    um_per_px
        Pixel size.
    archetype
        The tissue archetype (or ``"mixed:a+b"``).
    platform
        ``"xenium"``, ``"merscope"`` or ``"cosmx"``.
    tx_diffused
        True where a molecule drifted out of its cell (diffusion): then ``tx_cell`` is not the label under it.
        For every other molecule with ``tx_cell > 0``, ``cells[int(tx_y), int(tx_x)] == tx_cell``.
    """

    dapi: np.ndarray
    cells: np.ndarray
    nuclei: np.ndarray
    tx_x: np.ndarray
    tx_y: np.ndarray
    tx_gene: np.ndarray
    tx_cell: np.ndarray
    genes: list[str]
    cell_type: np.ndarray
    cell_type_names: list[str]
    um_per_px: float
    archetype: str
    platform: str
    tx_diffused: np.ndarray

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.cell_type.size)

    @property
    def control_genes(self) -> np.ndarray:
        """Boolean mask over ``genes``: which are control probes."""
        import re

        from halo.io import DEFAULT_CONTROL_PATTERN

        pattern = re.compile(DEFAULT_CONTROL_PATTERN, re.IGNORECASE)
        return np.array([pattern.fullmatch(g) is not None for g in self.genes])


def simulate_tissue(
    tissue: str = "mixed",
    *,
    size_um: float | tuple[float, float] = (250.0, 250.0),
    seed: int = 0,
    platform: str = "xenium",
    um_per_px: float | None = None,
    n_genes: int | None = None,
    bit_depth: int | None = None,
) -> Tissue:
    """Simulate one field of tissue as numpy arrays with exact ground truth.

    Parameters
    ----------
    tissue
        One of :data:`ARCHETYPES`, ``"mixed"`` (two or three archetypes chosen by the seed, in smooth regions),
        archetypes joined by ``"+"`` (those, in smooth regions) or ``"random"`` (one archetype chosen by the seed).
    size_um
        Field ``(width, height)`` in micrometres, or one number for a square.
    seed
        Seed: the same arguments and seed give identical output.
    platform
        ``"xenium"``, ``"merscope"`` or ``"cosmx"``: pixel size, bit depth, transcript density, noise and naming.
    um_per_px
        Pixel size override (e.g. 0.5 for fast training fields); default the platform's.
    n_genes
        Panel size (50-5000), without control probes; default the platform's.
    bit_depth
        8 or 16 bits for the DAPI image; default the platform's.

    Returns
    -------
    A :class:`Tissue`.
    """
    start = time.perf_counter()
    settings = platform_settings(platform)
    width, height = _size(size_um)
    um_per_px = settings.um_per_px if um_per_px is None else float(um_per_px)
    n_genes = settings.n_genes if n_genes is None else int(n_genes)
    bit_depth = settings.bit_depth if bit_depth is None else int(bit_depth)
    _check(tissue, um_per_px, n_genes, bit_depth, width, height)
    layout_seed, geometry_seed, dapi_seed, tx_seed = np.random.SeedSequence(seed).spawn(4)
    layout_rng = np.random.default_rng(layout_seed)
    layout, name, neuropil = _layout(tissue, layout_rng, width, height)
    shape = (max(1, round(height / um_per_px)), max(1, round(width / um_per_px)))
    geometry = rasterise(layout, shape, um_per_px, np.random.default_rng(geometry_seed))
    cell_type = layout.cells["ctype"][geometry.cell_rows].astype(np.int64)
    dapi = render_dapi(geometry, layout, settings, um_per_px, np.random.default_rng(dapi_seed), bit_depth=bit_depth)
    tx = draw_transcripts(
        geometry,
        layout,
        cell_type,
        settings,
        um_per_px,
        np.random.default_rng(tx_seed),
        n_genes=n_genes,
        neuropil_per_um2=neuropil,
        platform=platform,
    )
    logger.info(
        "simulated %s on %s: %d cells, %d transcripts, %s px in %.2f s",
        name,
        platform,
        cell_type.size,
        tx.x.size,
        shape,
        time.perf_counter() - start,
    )
    return Tissue(
        dapi=dapi,
        cells=geometry.cells,
        nuclei=geometry.nuclei,
        tx_x=tx.x,
        tx_y=tx.y,
        tx_gene=tx.gene,
        tx_cell=tx.cell,
        genes=tx.genes,
        cell_type=cell_type,
        cell_type_names=list(layout.type_names),
        um_per_px=um_per_px,
        archetype=name,
        platform=platform,
        tx_diffused=tx.diffused,
    )


def _size(size_um) -> tuple[float, float]:
    if np.isscalar(size_um):
        return float(size_um), float(size_um)
    width, height = size_um
    return float(width), float(height)


def _check(tissue, um_per_px, n_genes, bit_depth, width, height) -> None:
    unknown = [name for name in tissue.split("+") if name not in TISSUES]
    if unknown or ("+" in tissue and ({"mixed", "random"} & set(tissue.split("+")))):
        msg = f"Unknown tissue {tissue!r}; choose one of {list(TISSUES)}, or archetypes joined by '+' to mix them."
        raise ValueError(msg)
    if not (width > 0 and height > 0):
        msg = f"size_um must be positive, got ({width}, {height})."
        raise ValueError(msg)
    if not um_per_px > 0:
        msg = f"um_per_px must be positive, got {um_per_px!r}."
        raise ValueError(msg)
    if not 1 <= n_genes <= 20_000:
        msg = f"n_genes must be between 1 and 20000 (panels are 50-5000), got {n_genes!r}."
        raise ValueError(msg)
    if bit_depth not in (8, 16):
        msg = f"bit_depth must be 8 or 16, got {bit_depth!r}."
        raise ValueError(msg)


def _layout(tissue: str, rng: np.random.Generator, width: float, height: float) -> tuple[Layout, str, float]:
    """Return the field's layout, its archetype name, and its neuropil transcript density."""
    if tissue == "random":
        tissue = str(rng.choice(ARCHETYPES))
    if tissue != "mixed" and "+" not in tissue:
        return LAYOUTS[tissue](rng, width, height), tissue, NEUROPIL_PER_UM2.get(tissue, 0.0)
    names = tissue.split("+") if "+" in tissue else list(rng.choice(ARCHETYPES, rng.integers(2, 4), replace=False))
    fields = [SmoothField(rng, max(width, height) * 0.8, n_waves=4) for _ in names]

    def region(x, y):
        return np.argmax(np.stack([f(x, y) for f in fields]), axis=0)

    parts = [LAYOUTS[n](rng, width, height) for n in names]
    layout = _merge(parts, region)
    neuropil = max(NEUROPIL_PER_UM2.get(n, 0.0) for n in names) / len(names)
    return layout, "mixed:" + "+".join(names), neuropil


def _merge(parts: list[Layout], region) -> Layout:
    """Keep from each layout ``j`` the cells (with nuclei, neurites) and lumens whose centre lies in region ``j``."""
    type_names: list[str] = []
    cells, nuclei, lumens, neurites = [], [], [], []
    offset = 0
    for j, part in enumerate(parts):
        keep = region(part.cells["x"], part.cells["y"]) == j
        new_index = np.full(part.n_cells, -1, dtype=np.int64)
        new_index[keep] = offset + np.arange(int(keep.sum()))
        remap = np.array([_type_index(type_names, n) for n in part.type_names], dtype=np.int64)
        kept = {k: v[keep] for k, v in part.cells.items()}
        kept["ctype"] = remap[kept["ctype"]] if kept["ctype"].size else kept["ctype"]
        cells.append(kept)
        owner = part.nuclei["cell"]
        # nuclei of dropped cells vanish; out-of-plane nuclei (-1) stay if their position is in this region
        stays = np.where(owner >= 0, keep[np.maximum(owner, 0)], region(part.nuclei["x"], part.nuclei["y"]) == j)
        nuc = {k: v[stays] for k, v in part.nuclei.items()}
        nuc["cell"] = np.where(nuc["cell"] >= 0, new_index[np.maximum(nuc["cell"], 0)], -1)
        nuclei.append(nuc)
        if len(part.lumens):
            lumens.append(part.lumens[region(part.lumens[:, 0], part.lumens[:, 1]) == j])
        neurites += [(int(new_index[c]), pts, w) for c, pts, w in part.neurites if keep[c]]
        offset += int(keep.sum())
    merged_cells = {k: np.concatenate([c[k] for c in cells]) for k in cells[0]}
    merged_nuclei = {k: np.concatenate([n[k] for n in nuclei]) for k in nuclei[0]}
    merged_lumens = np.concatenate(lumens) if lumens else np.zeros((0, 5))
    return Layout(type_names, merged_cells, merged_nuclei, merged_lumens, neurites)


def _type_index(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)
