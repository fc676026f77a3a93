"""Step 2 of a segmentation: the tiles, the nucleus source and the method, and the transcripts sorted by tile."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import io as hio
from .._memory import release_freed_memory
from .._tiling import Tile, tile_grid
from ..methods import METHODS, Method, NucleusSource, Slide, nucleus_source_for
from ._options import SegmentOptions
from ._resolve import Inputs

OCCUPANCY_BIN_UM = 10.0
"""Side of the bins in which the transcripts' coverage of the slide is counted (for the sanity checks)."""

if TYPE_CHECKING:
    from spatialdata import SpatialData


@dataclass
class Plan:
    """Everything the tiles need: the grid of tiles, the prepared plug-ins, and the transcripts by tile."""

    slide: Slide
    tiles: list[Tile]
    overlap_um: float
    """The tiles' overlap (``options.overlap_um`` or its default)."""
    source: NucleusSource
    method: Method
    transcripts: hio.PartitionedTranscripts
    occupancy: Occupancy
    seconds: dict[str, float]
    """Time spent preparing (``"prepare"``) and reading the transcripts (``"transcripts"``)."""


def plan_run(sdata: SpatialData, inputs: Inputs, options: SegmentOptions, scratch: str, *, start: float) -> Plan:
    """Create the plug-ins, cut the tiles, stream the transcripts into ``scratch`` by tile, prepare the plug-ins.

    ``start``: ``time.perf_counter()`` when the run began, for the ``"prepare"`` time.
    """
    grid = inputs.grid
    slide = Slide(sdata=sdata, image=inputs.image, points_key=inputs.points_key, grid=grid, options=options)
    source = nucleus_source_for(options, sdata).create(slide)
    method = METHODS[options.method].create(slide)
    overlap_um = options.tile_overlap_um
    # tiles start on the working grid, so no result depends on the tiling
    core_px = _round_up(max(1, round(options.tile_um / grid.um_per_px)), grid.factor)
    margin_px = _round_up(int(np.ceil(overlap_um / 2 / grid.um_per_px)), grid.factor)
    tiles = tile_grid(grid.shape, core_px, margin_px)
    seconds = {"prepare": time.perf_counter() - start}

    clock = time.perf_counter()
    um = grid.um_per_px
    occupancy = Occupancy.of(grid.shape, OCCUPANCY_BIN_UM / um)
    embedding = None
    if source.needs_embedding or method.needs_embedding:
        from ..model import EmbeddingCounts

        embedding = EmbeddingCounts(len(inputs.transcripts.genes), (grid.shape[0] * um, grid.shape[1] * um))

    def on_part(x: np.ndarray, y: np.ndarray, gene: np.ndarray) -> None:
        occupancy.add(x, y)
        if embedding is not None:
            embedding.add(x * um, y * um, gene)

    transcripts = hio.partition_transcripts(
        sdata.points[inputs.points_key], inputs.transcripts, scratch, slide_shape=grid.shape, core_px=core_px,
        on_part=on_part, progress=options.progress,
    )  # fmt: skip
    hio.check_transcripts_on_image(
        inputs.points_key, inputs.image.key, transcripts.n_kept, transcripts.dropped["outside"], grid.shape
    )
    seconds["transcripts"] = time.perf_counter() - clock
    slide.genes = transcripts.genes
    if embedding is not None:
        slide.embedding = embedding.embedding()
    source, method = source.prepare(slide), method.prepare(slide)
    release_freed_memory()  # what reading the points element left behind
    return Plan(slide, tiles, overlap_um, source, method, transcripts, occupancy, seconds)


@dataclass
class Occupancy:
    """Kept transcripts per square bin of the slide, ``(rows, cols)``: where the tissue is."""

    counts: np.ndarray
    bin_px: float
    """Side of a bin in native pixels."""

    @classmethod
    def of(cls, shape: tuple[int, int], bin_px: float) -> Occupancy:
        """Empty bins of ``bin_px`` over a slide of ``shape`` pixels."""
        height, width = shape
        return cls(np.zeros((int(np.ceil(height / bin_px)), int(np.ceil(width / bin_px))), np.int64), float(bin_px))

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Count transcripts at pixels ``(x, y)`` on the slide."""
        bins = (y // self.bin_px).astype(np.int64) * self.counts.shape[1] + (x // self.bin_px).astype(np.int64)
        self.counts += np.bincount(bins, minlength=self.counts.size).reshape(self.counts.shape)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
