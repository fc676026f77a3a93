"""Running the tiles and gathering what they leave behind.

One dask task per tile (threads, processes or a distributed cluster) reads its own image windows and transcripts;
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
from .._tiling import Box
from ._tile import TileInputs, segment_tile


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


def run_tiles(tiles, window_source, image_source, transcripts, context, scratch, progress, client):
    """Segment all tiles with dask (on ``client`` when given); each task reads its own transcripts."""
    import dask

    shared = dask.delayed(context, pure=True), dask.delayed(transcripts, pure=True)  # sent once to each worker
    tasks = []
    for tile in tiles:
        box = tile.window
        raw = None if context.model is None else _model_raw_box(box, context)
        nucleus_in_image = raw is not None and window_source is image_source
        nucleus_window = None
        if window_source is not None and not nucleus_in_image:
            nucleus_window = _LazyWindow.of(window_source, box)
        image_window = None if raw is None else _LazyWindow.of(image_source, raw)
        tasks.append(
            dask.delayed(_tile_task, pure=True)(
                tile, nucleus_window, image_window, raw, nucleus_in_image, shared[1], shared[0], scratch,
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
    if "torch" not in sys.modules:
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


def _segment_and_save(tile, nucleus_window, image_window, raw, nucleus_in_image, transcripts, context, scratch):
    nucleus_window = None if nucleus_window is None else nucleus_window.read()
    image_window = None if image_window is None else image_window.read()
    if nucleus_in_image:  # the model's image window holds the nucleus window: read the image once
        box = tile.window
        nucleus_window = image_window[box.y0 - raw.y0 : box.y1 - raw.y0, box.x0 - raw.x0 : box.x1 - raw.x0]
    if raw is None:
        core, window_tx = transcripts.tiles([tile.index]), None
    else:  # the core's transcripts are those of the model's box inside the core: read once
        found = transcripts.in_box(raw)
        inside = tile.core.contains(np.floor(found["y"]), np.floor(found["x"]))
        core = {name: values[inside] for name, values in found.items()}
        window_tx = (found["x"] - raw.x0, found["y"] - raw.y0, found["gene"])
    inputs = TileInputs(
        nucleus_window=nucleus_window,
        image_window=image_window,
        tx_rows=core["rows"],
        tx_x=core["x"],
        tx_y=core["y"],
        tx_gene=core["gene"],
        window_tx=window_tx,
        raw_box=raw,
    )
    result = segment_tile(tile, inputs, context)
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


def _model_raw_box(window: Box, context) -> Box:
    """Native box of the data the network needs to predict ``window`` on the slide's fixed patch grid."""
    from ..model import patch_reach

    f = context.factor
    grid = window.binned(f)
    y0, y1, x0, x1 = patch_reach(
        (grid.y0, grid.y1, grid.x0, grid.x1), context.grid_shape, model_um=context.grid_um_per_px,
        smooth_um=context.model.net.config.smooth_um,
    )  # fmt: skip
    height, width = context.slide_shape
    return Box(y0 * f, min(y1 * f, height), x0 * f, min(x1 * f, width))
