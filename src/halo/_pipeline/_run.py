"""Step 3 of a segmentation: run the tiles, stitch their cells, and assign each transcript its cell.

One dask task per tile (threads, processes or a distributed cluster) reads its own raster windows and transcripts;
each transcript's cell key goes to the run's scratch folder, from which the file-backed assignment column is built.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._memory import release_freed_memory
from .._tiling import Box, Tile
from ..methods import Method, NucleusSource, Slide, TileData
from ._options import SegmentOptions
from ._plan import Plan
from ._stitch import Stitched, stitch
from ._tile import TileResult, segment_tile


@dataclass
class Outcome:
    """The slide's cells and where each transcript went."""

    stitched: Stitched
    assignment: str
    """Path of the int32 file of each transcript's cell id (0 for none), row by row of the points element."""
    n_assigned: int
    """Kept transcripts that lie in a cell."""
    seconds: dict[str, float]
    """Time spent on the tiles (``"tiles"``) and on stitching and assigning (``"stitch"``)."""


def run_plan(plan: Plan, options: SegmentOptions, scratch: str) -> Outcome:
    """Segment every tile, stitch the cells into slide-wide ids, and write the assignment to ``scratch``."""
    import time

    clock = time.perf_counter()
    results = run_tiles(
        plan.tiles, plan.slide, plan.source, plan.method, plan.transcripts, scratch, progress=options.progress,
        client=options.client,
    )  # fmt: skip
    seconds = {"tiles": time.perf_counter() - clock}
    clock = time.perf_counter()
    stitched = stitch(results, len(plan.transcripts.genes), pixel=plan.slide.grid.factor)
    del results  # the stitched cells hold all that is still needed
    release_freed_memory()
    if stitched.n_cells == 0:
        image = plan.slide.image
        msg = (
            f"No nuclei found in image {image.key!r} channel {image.channel!r}, so nothing was written. Check the "
            "channel, or lower `nucleus_options={'threshold': ...}` (on the image normalised to [0, 1])."
        )
        raise ValueError(msg)
    assignment, n_assigned = write_assignment(len(plan.tiles), stitched, plan.transcripts.n_total, scratch)
    release_freed_memory()
    seconds["stitch"] = time.perf_counter() - clock
    return Outcome(stitched, assignment, n_assigned, seconds)


@contextlib.contextmanager
def scratch_folder(scratch_dir):
    """A temporary folder for the run's transcripts and assignments, removed when the run ends, even on failure."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="halo-", dir=scratch_dir)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_tiles(
    tiles: list[Tile], slide: Slide, source: NucleusSource, method: Method, transcripts, scratch: str, *,
    progress: bool, client: Any,
) -> list[TileResult]:  # fmt: skip
    """Segment all tiles with dask (on ``client`` when given); each task reads its own windows and transcripts."""
    import dask

    # sent once to each worker
    shared = {
        name: dask.delayed(value, pure=True) for name, value in (("plugins", (source, method)), ("tx", transcripts))
    }
    tasks = []
    for tile in tiles:
        reads = source.reads(tile.window, slide.grid).merged(method.reads(tile.window, slide.grid))
        # each raster read once over what both plug-ins need
        windows = {name: (_LazyWindow.of(slide.rasters[name], box), box) for name, box in reads.rasters.items()}
        tasks.append(
            dask.delayed(_tile_task, pure=True)(
                tile, slide.grid, windows, reads.transcripts, shared["tx"], shared["plugins"], scratch,
                dask_key_name=f"halo-tile-{tile.index}",
            )
        )  # fmt: skip
    with _torch_threads_kept():
        if isinstance(client, str) and client == "local":
            from distributed import Client, LocalCluster

            with LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
                with Client(cluster) as local:
                    return _gather(local, tasks, progress)
        if client is not None:
            return _gather(client, tasks, progress)
        if progress:
            from tqdm.dask import TqdmCallback

            with TqdmCallback(desc="halo tiles", leave=False):
                return list(dask.compute(*tasks))
        return list(dask.compute(*tasks))


def _gather(client, tasks, progress):
    """Compute on a ``dask.distributed`` client, with a progress bar over finished tiles."""
    from distributed import as_completed

    futures = client.compute(tasks)
    if progress:
        from tqdm.auto import tqdm

        for _ in tqdm(as_completed(futures), total=len(futures), desc="halo tiles", leave=False):
            pass
    return client.gather(futures)


@contextlib.contextmanager
def _torch_threads_kept():
    """Tiles run torch single-threaded in parallel (see ``predict_batch``); give the user's setting back after."""
    if sys.modules.get("torch") is None:  # never imported (None: its import is blocked), so nothing to restore
        yield
        return
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class _LazyWindow:
    """A window of a (dask) raster that only the tile's own task reads.

    No image chunk is then held in memory for the tiles still to come: memory stays bounded by the tiles in flight,
    whatever the image's chunking.
    """

    data: Any

    @classmethod
    def of(cls, raster, box: Box) -> _LazyWindow:
        import dask

        window = raster[box.y0 : box.y1, box.x0 : box.x1]
        if dask.is_dask_collection(window):
            (window,) = dask.optimize(window)  # only the chunks it needs travel with it
        return cls(window)

    def read(self) -> np.ndarray:
        data = self.data
        if hasattr(data, "compute"):
            data = data.compute(scheduler="synchronous")
        return np.asarray(data)


def _tile_task(*args):
    """Read the tile's windows and transcripts, segment it, and save its transcripts' cell keys to ``scratch``."""
    try:
        return _segment_and_save(*args)
    finally:  # the tile's arrays are all gone by now
        release_freed_memory()


def _segment_and_save(tile, grid, windows, transcript_box, transcripts, plugins, scratch):
    source, method = plugins
    rasters = {name: (window.read(), box) for name, (window, box) in windows.items()}
    if transcript_box is None:  # the core's transcripts alone
        found, transcript_box = transcripts.tiles([tile.index]), tile.core
    else:  # the core's transcripts come from the same read
        transcript_box = transcript_box.union(tile.core)
        found = transcripts.in_box(transcript_box)
    data = TileData(tile=tile, grid=grid, rasters=rasters, transcripts=found, transcript_box=transcript_box)
    result = segment_tile(data, source, method)
    np.save(_assignment_file(scratch, tile.index), np.stack([result.tx_rows, result.tx_keys]))
    result.tx_rows = result.tx_keys = None  # results stay small: the driver reads them back one tile at a time
    return result


def _assignment_file(scratch, index: int) -> str:
    return os.path.join(scratch, f"tile-{index}-keys.npy")


def write_assignment(n_tiles: int, stitched, n_total: int, scratch) -> tuple[str, int]:
    """Write each transcript's cell id (0 for none) to an int32 file in ``scratch``; return it and how many."""
    path = os.path.join(scratch, "assignment.bin")
    column = np.memmap(path, np.int32, mode="w+", shape=(max(n_total, 1),))
    n_assigned = 0
    for tile_index in range(n_tiles):
        rows, keys = np.load(_assignment_file(scratch, tile_index), mmap_mode="r")  # read, not kept on the heap
        ids = stitched.ids_of(keys)
        column[rows] = ids
        n_assigned += int((ids > 0).sum())
    column.flush()
    del column
    return path, n_assigned
