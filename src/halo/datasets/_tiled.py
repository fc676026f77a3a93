"""``tiled_slide``: a whole-slide-sized SpatialData on disk, assembled from a few simulated fields.

Simulating a gigapixel cell by cell would take hours; a real slide is also mostly repeats of a few tissue types
with empty glass around them. So a handful of distinct square fields are simulated once and placed over a grid
(each turned or flipped), some grid cells are left as glass, and the image and the transcripts are written chunk by
chunk and partition by partition from lazy dask collections: memory stays bounded whatever the slide's size.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._simulate import ARCHETYPES, simulate_tissue
from ._simulate._platforms import platform_settings
from ._simulate._spatialdata import ELEMENT_NAMES, ORIGINS_UM, _microns_to_pixels

logger = logging.getLogger(__name__)

OFF_TISSUE_RATE = 0.1
"""Molecules per um^2 on glass, as a fraction of the platform's extracellular background in tissue."""
ATTRS_KEY = "halo_tiled_slide"
"""Key of the layout description in ``sdata.attrs``."""


@dataclass(frozen=True)
class _Block:
    """One distinct simulated field: its nuclear image and its transcripts in its own pixels."""

    dapi: np.ndarray
    x: np.ndarray
    y: np.ndarray
    gene: np.ndarray


@dataclass(frozen=True)
class _Layout:
    """Which block (``-1`` = glass) sits in each grid cell, turned how, and everything needed to draw any region."""

    block: np.ndarray
    """``(n_rows, n_cols)`` index into ``blocks``, -1 for glass."""
    orientation: np.ndarray
    """``(n_rows, n_cols)`` bits: 1 transpose, 2 flip left-right, 4 flip up-down (applied in that order)."""
    blocks: list[_Block]
    glass: np.ndarray
    """Nuclear image of a glass block."""
    block_px: int
    shape: tuple[int, int]
    um_per_px: float
    n_genes: int
    off_tissue_per_px: float
    seed: int

    def cell_extent(self, row: int, col: int) -> tuple[int, int]:
        """Visible ``(height, width)`` of a grid cell: blocks at the bottom and right edges are cropped."""
        b = self.block_px
        return min(b, self.shape[0] - row * b), min(b, self.shape[1] - col * b)

    def render(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Draw the nuclear image over rows ``y0:y1`` and columns ``x0:x1`` of the slide."""
        b = self.block_px
        out = np.empty((y1 - y0, x1 - x0), self.glass.dtype)
        for row in range(y0 // b, -(-y1 // b)):
            for col in range(x0 // b, -(-x1 // b)):
                k = self.block[row, col]
                source = _orient_image(self.glass if k < 0 else self.blocks[k].dapi, int(self.orientation[row, col]))
                ty0, ty1 = max(y0, row * b), min(y1, (row + 1) * b)
                tx0, tx1 = max(x0, col * b), min(x1, (col + 1) * b)
                out[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0] = source[
                    ty0 - row * b : ty1 - row * b, tx0 - col * b : tx1 - col * b
                ]
        return out

    def transcripts(self, row: int, col: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, y, gene)`` of the molecules in a grid cell, in float64 slide pixels."""
        height, width = self.cell_extent(row, col)
        k = self.block[row, col]
        if k < 0:
            rng = np.random.default_rng([self.seed, 11, row, col])
            n = rng.poisson(self.off_tissue_per_px * height * width)
            x, y = rng.uniform(0, width, n), rng.uniform(0, height, n)
            gene = rng.integers(0, self.n_genes, n).astype(np.int32)
        else:
            block = self.blocks[k]
            x, y = _orient_points(block.x, block.y, int(self.orientation[row, col]), self.block_px)
            inside = (x < width) & (y < height)
            x, y, gene = x[inside], y[inside], block.gene[inside]
        return _off_pixel_edges(x + col * self.block_px), _off_pixel_edges(y + row * self.block_px), gene


def tiled_slide(
    path: str | Path,
    *,
    size_um: float | tuple[float, float],
    seed: int = 0,
    platform: str = "xenium",
    block_um: float = 500.0,
    tissue_fraction: float = 0.75,
    n_distinct: int = 6,
    archetypes: Sequence[str] | None = None,
    chunk_px: int = 4096,
    scale_factors: Sequence[int] | None = (2, 2, 2, 2),
    overwrite: bool = False,
    progress: bool = True,
):
    """Write a slide of any size (a gigapixel in minutes) to zarr, tiled from a few simulated fields, and open it.

    ``n_distinct`` square fields of ``block_um`` are simulated with :func:`simulate_tissue` (different archetypes and
    seeds) and placed over a grid covering the slide, each turned or flipped; the grid cells farthest from the
    centre (with some randomness) are left as glass, so that tissue covers ``tissue_fraction`` of the slide. The
    image is written chunk by chunk and the transcripts block by block (one parquet partition per grid cell), so
    memory does not grow with the slide. The object has the element names and transformations of
    :func:`simulate` (``platform="xenium"``: image ``"morphology_focus"`` with channel ``"DAPI"``, points
    ``"transcripts"`` in micrometres with ``feature_name`` and ``qv``), so :func:`halo.tl.segment` runs on it
    without options. There is no ground truth: it is meant for speed and memory measurements.

    Parameters
    ----------
    path
        Where to write the zarr store.
    size_um
        Slide ``(width, height)`` in micrometres, or one number for a square. A size that is a whole number of
        blocks gives exactly that many uncropped blocks; otherwise the last row and column are cropped.
    seed
        Seed of the archetypes, the fields, the placement and the orientations: the same arguments give the same
        slide.
    platform
        ``"xenium"``, ``"merscope"`` or ``"cosmx"``, as in :func:`simulate`.
    block_um
        Side of each simulated field.
    tissue_fraction
        Share of the grid cells holding tissue (at least one cell does); the rest is glass with a sparse sprinkle
        of molecules.
    n_distinct
        How many distinct fields are simulated (fewer when the slide has fewer tissue cells).
    archetypes
        Tissues of the fields, cycled (anything :func:`simulate_tissue` takes: an archetype, ``"mixed"``,
        archetypes joined by ``"+"``); by default ``n_distinct`` different archetypes chosen by the seed.
    chunk_px
        Side of the image chunks written.
    scale_factors
        Downsampling steps of the image pyramid (Xenium's ``morphology_focus`` is a pyramid); ``None`` writes a
        single scale, as :func:`simulate` does.
    overwrite
        Replace an existing store at ``path``; otherwise an existing store is an error.
    progress
        Show progress bars.

    Returns
    -------
    The slide, read back with :func:`spatialdata.read_zarr` (backed by ``path``). ``sdata.attrs["halo_tiled_slide"]``
    describes the layout: ``block_px``, the grid of field indices (``-1`` = glass) and orientations, and the
    archetype and seed of each field, so any block can be simulated again.
    """
    path = Path(path)
    settings = platform_settings(platform)
    width_um, height_um = (float(size_um), float(size_um)) if np.isscalar(size_um) else map(float, size_um)
    _check(path, width_um, height_um, block_um, tissue_fraction, n_distinct, chunk_px, overwrite, archetypes)
    start = time.perf_counter()
    um_per_px = settings.um_per_px
    block_px = round(block_um / um_per_px)
    shape = (_side_px(height_um, block_um, block_px, um_per_px), _side_px(width_um, block_um, block_px, um_per_px))
    grid = (-(-shape[0] // block_px), -(-shape[1] // block_px))
    rng = np.random.default_rng([seed, 3])
    tissue = _tissue_cells(grid, tissue_fraction, rng)
    n_fields = min(n_distinct, int(tissue.sum()))
    names = list(archetypes or rng.choice(ARCHETYPES, n_distinct, replace=n_distinct > len(ARCHETYPES)))
    fields = [(str(names[i % len(names)]), _field_seed(seed, i)) for i in range(n_fields)]
    blocks, genes = _simulate_blocks(fields, block_px * um_per_px, platform, progress)
    block = np.where(tissue, rng.integers(0, n_fields, grid), -1)
    orientation = rng.integers(0, 8, grid)
    layout = _Layout(
        block=block, orientation=orientation, blocks=blocks, glass=_glass(blocks[0].dapi, block_px, settings, seed),
        block_px=block_px, shape=shape, um_per_px=um_per_px, n_genes=len(genes),
        off_tissue_per_px=OFF_TISSUE_RATE * settings.background_per_um2 * um_per_px**2, seed=seed,
    )  # fmt: skip
    sdata = _spatialdata(layout, genes, platform, chunk_px, scale_factors)
    sdata.attrs[ATTRS_KEY] = {
        "block_px": block_px,
        "seed": seed,
        "platform": platform,
        "fields": [{"archetype": a, "seed": s} for a, s in fields],
        "block": block.tolist(),
        "orientation": orientation.tolist(),
    }
    _write(sdata, path, overwrite, progress)
    logger.info(
        "tiled slide %s: %s px, %d x %d blocks of %d px, %d distinct fields, in %.1f s",
        path, shape, *grid, block_px, n_fields, time.perf_counter() - start,
    )  # fmt: skip
    from ..io import read_store

    return read_store(path)


def _check(path, width_um, height_um, block_um, tissue_fraction, n_distinct, chunk_px, overwrite, archetypes) -> None:
    if not (width_um > 0 and height_um > 0):
        msg = f"size_um must be positive, got ({width_um}, {height_um})."
        raise ValueError(msg)
    if not block_um >= 20:
        msg = f"block_um must be at least 20 um (a few cells), got {block_um!r}."
        raise ValueError(msg)
    if not 0 < tissue_fraction <= 1:
        msg = f"tissue_fraction must be in (0, 1], got {tissue_fraction!r}."
        raise ValueError(msg)
    if n_distinct < 1 or chunk_px < 64:
        msg = f"n_distinct must be >= 1 and chunk_px >= 64, got {n_distinct!r} and {chunk_px!r}."
        raise ValueError(msg)
    unknown = [a for a in archetypes or () if not set(a.split("+")) <= set(ARCHETYPES) and a not in ("mixed", "random")]
    if unknown:
        msg = f"Unknown archetypes {unknown}; use {list(ARCHETYPES)}, 'mixed', 'random' or archetypes joined by '+'."
        raise ValueError(msg)
    if path.exists() and not overwrite:
        msg = f"{path} already exists; pass overwrite=True to replace it, or open it with spatialdata.read_zarr."
        raise FileExistsError(msg)


def _side_px(side_um: float, block_um: float, block_px: int, um_per_px: float) -> int:
    """Pixels along one side: whole blocks when the side is a whole number of blocks, else rounded."""
    n = side_um / block_um
    if abs(n - round(n)) < 1e-6:
        return round(n) * block_px
    return max(1, round(side_um / um_per_px))


def _field_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, 7, index]).generate_state(1)[0])


def _tissue_cells(grid: tuple[int, int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Grid cells holding tissue: those nearest the centre, with noise, so glass surrounds an irregular section."""
    rows, cols = np.meshgrid((np.arange(grid[0]) + 0.5) / grid[0], (np.arange(grid[1]) + 0.5) / grid[1], indexing="ij")
    rank = np.hypot(rows - 0.5, cols - 0.5) + rng.uniform(0, 0.25, grid)
    n = max(1, round(fraction * rank.size))
    tissue = np.zeros(rank.size, bool)
    tissue[np.argsort(rank, axis=None, kind="stable")[:n]] = True
    return tissue.reshape(grid)


def _simulate_blocks(fields, size_um: float, platform: str, progress: bool) -> tuple[list[_Block], list[str]]:
    from tqdm.auto import tqdm

    blocks, genes = [], None
    for archetype, field_seed in tqdm(fields, desc="simulating fields", disable=not progress, leave=False):
        t = simulate_tissue(archetype, size_um=size_um, seed=field_seed, platform=platform)
        if genes is not None and t.genes != genes:  # pragma: no cover - the simulator's panel depends on the platform
            msg = f"Field {archetype!r} has another gene panel than the first field; cannot tile them."
            raise RuntimeError(msg)
        genes = t.genes
        blocks.append(_Block(dapi=t.dapi, x=t.tx_x.astype(np.float64), y=t.tx_y.astype(np.float64), gene=t.tx_gene))
    return blocks, genes


def _glass(like: np.ndarray, block_px: int, settings, seed: int) -> np.ndarray:
    """Nuclear image of a block without tissue: the camera's background and read noise."""
    rng = np.random.default_rng([seed, 5])
    top = np.iinfo(like.dtype).max
    noise = rng.normal(settings.background, settings.read_noise, (block_px, block_px))
    return np.clip(np.round(noise), 0, top).astype(like.dtype)


def _orient_image(image: np.ndarray, orientation: int) -> np.ndarray:
    if orientation & 1:
        image = image.T
    if orientation & 2:
        image = image[:, ::-1]
    if orientation & 4:
        image = image[::-1]
    return image


def _orient_points(x: np.ndarray, y: np.ndarray, orientation: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions after :func:`_orient_image` with the same ``orientation`` (pixel ``i`` spans ``[i, i + 1)``)."""
    if orientation & 1:
        x, y = y, x
    # a mirrored position s - x lies in (s - 1 - i, s - i] for x in pixel i: one step down keeps it in pixel s - 1 - i
    if orientation & 2:
        x = np.nextafter(size - x, -np.inf)
    if orientation & 4:
        y = np.nextafter(size - y, -np.inf)
    return x, y


def _off_pixel_edges(position: np.ndarray) -> np.ndarray:
    """Positions kept 1e-6 px away from pixel edges, so the round trip through micrometres keeps each one's pixel."""
    whole = np.floor(position)
    return whole + np.clip(position - whole, 1e-6, 1 - 1e-6)


def _spatialdata(layout: _Layout, genes: list[str], platform: str, chunk_px: int, scale_factors):
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, PointsModel
    from spatialdata.transformations import Identity

    names = ELEMENT_NAMES[platform]
    image = Image2DModel.parse(
        _image(layout, chunk_px)[None],
        dims=("c", "y", "x"),
        c_coords=["DAPI"],
        transformations={"global": Identity()},
        scale_factors=list(scale_factors) if scale_factors else None,
        chunks=(1, chunk_px, chunk_px),
    )
    feature_key = platform_settings(platform).feature_key
    points = PointsModel.parse(
        _points(layout, genes, platform, feature_key),
        coordinates={"x": "x", "y": "y"},
        feature_key=feature_key,
        transformations={"global": _microns_to_pixels(platform, layout.um_per_px, ORIGINS_UM[platform])},
        sort=True,  # the index runs over the partitions in order; asking would read every partition
    )
    return SpatialData(images={names["image"]: image}, points={names["points"]: points})


def _image(layout: _Layout, chunk_px: int):
    import dask.array as da

    def render(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        return layout.render(y0, y1, x0, x1)

    chunks = tuple(_chunks(side, chunk_px) for side in layout.shape)
    dtype = layout.glass.dtype
    return da.map_blocks(render, dtype=dtype, chunks=chunks, meta=np.empty((0, 0), dtype))


def _chunks(side: int, chunk: int) -> tuple[int, ...]:
    return (chunk,) * (side // chunk) + ((side % chunk,) if side % chunk else ())


def _points(layout: _Layout, genes: list[str], platform: str, feature_key: str):
    """Build the transcripts lazily: one partition per grid cell, in row-major order, with a global increasing index."""
    import dask
    import dask.dataframe as dd

    cells = [(r, c) for r in range(layout.block.shape[0]) for c in range(layout.block.shape[1])]
    sizes = [layout.transcripts(r, c)[0].size for r, c in cells]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    categories = pd.CategoricalDtype(genes)
    meta = _frame(np.zeros(0), np.zeros(0), np.zeros(0, np.int32), 0, categories, platform, feature_key, None)
    parts = [
        dask.delayed(_partition, pure=True)(layout, r, c, int(starts[i]), categories, platform, feature_key)
        for i, (r, c) in enumerate(cells)
    ]
    divisions = [int(s) for s in starts[:-1]] + [int(starts[-1]) - 1]
    if starts[-1] == 0 or np.any(np.diff(starts) == 0):
        divisions = None  # empty partitions: dask cannot describe them by divisions
    return dd.from_delayed(parts, meta=meta, divisions=divisions, verify_meta=False)


def _partition(layout: _Layout, row: int, col: int, start: int, categories, platform: str, feature_key: str):
    x, y, gene = layout.transcripts(row, col)
    rng = np.random.default_rng([layout.seed, 13, row, col])
    return _frame(x * layout.um_per_px, y * layout.um_per_px, gene, start, categories, platform, feature_key, rng)


def _frame(x_um, y_um, gene, start, categories, platform, feature_key, rng) -> pd.DataFrame:
    """Transcripts in micrometres with the platform's columns, as :func:`simulate` writes them (without truth)."""
    ox, oy = ORIGINS_UM[platform]
    n = x_um.size
    frame = pd.DataFrame(
        {
            "x": x_um + ox,
            "y": y_um + oy,
            feature_key: pd.Categorical.from_codes(gene, dtype=categories),
        },
        index=pd.RangeIndex(start, start + n),
    )
    if platform == "xenium":
        # Phred-like quality as simulate draws it: most reads pass the usual qv >= 20 filter, a few do not
        if rng is None:
            frame["qv"] = np.zeros(0, np.float32)
        else:
            low = rng.random(n) < 0.05
            frame["qv"] = np.where(low, rng.uniform(5, 20, n), rng.uniform(20, 40, n)).astype(np.float32)
    return frame


def _write(sdata, path: Path, overwrite: bool, progress: bool) -> None:
    """Write next to ``path`` and move into place, so a killed run never leaves a store that looks complete."""
    from tqdm.dask import TqdmCallback

    partial = path.with_name(f".{path.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    path.parent.mkdir(parents=True, exist_ok=True)
    with TqdmCallback(desc="writing slide", leave=False, disable=not progress):
        sdata.write(partial)
    if path.exists() and overwrite:
        shutil.rmtree(path)
    partial.rename(path)
