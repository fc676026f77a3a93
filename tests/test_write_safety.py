"""A run killed during write-back (SIGKILL, from outside) never leaves a store that lost or mixed up results.

A child process segments a zarr-backed object whose store already holds results, and pauses at a chosen point
inside the write-back (monkeypatched there, announcing itself through a file); the test kills it with SIGKILL,
then reads the store.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from spatialdata import read_zarr

import halo
from halo.io._write import JOURNAL

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

NEW = {"expansion_um": 2.0}

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    import geopandas
    from spatialdata import read_zarr

    import halo
    import halo.io._write as write

    path, stage, ready = sys.argv[1:4]

    def pause():
        Path(ready).write_text(stage)
        time.sleep(120)

    if stage == "staging":  # inside the write of the second staged element (the first one is complete)
        to_parquet, calls = geopandas.GeoDataFrame.to_parquet, []

        def paused_to_parquet(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                pause()
            return to_parquet(self, *args, **kwargs)

        geopandas.GeoDataFrame.to_parquet = paused_to_parquet
    elif stage == "swapping":  # after the first element was swapped in and listed
        consolidate, calls = write._consolidate, []

        def paused_consolidate(*args):
            consolidate(*args)
            calls.append(1)
            if len(calls) == 1:
                pause()

        write._consolidate = paused_consolidate
    sdata = read_zarr(path)
    halo.tl.segment(sdata, method="expansion", progress=False, expansion_um=EXPANSION)
    """
).replace("EXPANSION", repr(NEW["expansion_um"]))


def _snapshot(sdata):
    """What a user reads: cell shapes, nucleus shapes, counts, the table's params and the transcript assignment."""
    return {
        "cells": shapely.to_wkb(sdata["halo_boundaries"].geometry.to_numpy()).tolist(),
        "nuclei": shapely.to_wkb(sdata["halo_nuclei"].geometry.to_numpy()).tolist(),
        # by gene name: a store's unknown categories give sorted genes, an in-memory categorical its own order
        "counts": sdata["halo_table"].to_df().sort_index(axis=1),
        "expansion_um": sdata["halo_table"].uns["halo"]["params"]["expansion_um"],
        "assignment": sdata["transcripts"]["halo_cell_id"].compute().to_numpy(),
    }


def _assert_same(a, b):
    assert a["cells"] == b["cells"] and a["nuclei"] == b["nuclei"]
    pd.testing.assert_frame_equal(a["counts"], b["counts"], check_exact=True)
    assert a["expansion_um"] == b["expansion_um"]
    np.testing.assert_array_equal(a["assignment"], b["assignment"])


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A store holding default results, and the results of the child's run computed in memory."""
    folder = tmp_path_factory.mktemp("kill")
    old = halo.datasets.synthetic(size_um=(60.0, 50.0), seed=3)
    halo.tl.segment(old, method="expansion", progress=False)
    old.write(folder / "base.zarr")
    new = halo.datasets.synthetic(size_um=(60.0, 50.0), seed=3)
    halo.tl.segment(new, method="expansion", progress=False, **NEW)
    return folder / "base.zarr", _snapshot(old), _snapshot(new)


def _kill_during_write(base: Path, tmp_path: Path, stage: str) -> Path:
    path = tmp_path / "store.zarr"
    shutil.copytree(base, path)
    ready = tmp_path / "ready"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(halo.__file__).parents[1]), os.getcwd()]))
    child = subprocess.Popen([sys.executable, str(script), str(path), stage, str(ready)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if child.poll() is not None:
                pytest.fail(f"the child finished (exit {child.returncode}) before reaching {stage!r}")
            if time.monotonic() > deadline:
                pytest.fail(f"the child did not reach {stage!r} within 120 s")
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    return path


def test_killed_while_staging_keeps_previous_results_and_rerun_works(stores, tmp_path):
    base, old, new = stores
    path = _kill_during_write(base, tmp_path, "staging")
    assert (path / JOURNAL).exists()  # the child was inside write-back
    _assert_same(_snapshot(read_zarr(path)), old)  # readable, previous results intact

    sdata = read_zarr(path)
    # the re-run removes the staged leftovers and writes in full
    halo.tl.segment(sdata, method="expansion", progress=False, **NEW)
    again = read_zarr(path)
    _assert_same(_snapshot(again), new)
    assert not [name for _, name, _ in again.gen_elements() if "tmp" in name]
    assert not (path / JOURNAL).exists() and not list((path / "shapes").glob("*_halo_tmp"))


def test_killed_while_swapping_reads_and_the_next_run_finishes_the_write(stores, tmp_path):
    base, _, new = stores
    path = _kill_during_write(base, tmp_path, "swapping")
    sdata = read_zarr(path)  # readable: every listed element is complete (old, new, or new under a temporary name)
    assert "halo_boundaries_halo_tmp" not in sdata and "halo_nuclei_halo_tmp" in sdata
    # any later run finishes the interrupted write first
    halo.tl.segment(sdata, method="expansion", progress=False, key_added="other")
    for current in (sdata, read_zarr(path)):
        _assert_same(_snapshot(current), new)
        assert "other_boundaries" in current
        assert not [name for _, name, _ in current.gen_elements() if "tmp" in name]
    assert not (path / JOURNAL).exists()


def test_stopped_between_renames_recovers_from_the_path(stores, tmp_path, monkeypatch):
    # the narrowest window (old element moved aside, new one not yet in place) stopped in-process: the store's
    # listing names the element being moved, so recovery works on the path, and then the store reads in full
    base, old, new = stores
    path = tmp_path / "store.zarr"
    shutil.copytree(base, path)
    rename, calls = os.rename, []

    def stopping_rename(*args):
        rename(*args)
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr("halo.io._write.os.rename", stopping_rename)
    with pytest.raises(KeyboardInterrupt):
        halo.tl.segment(read_zarr(path), method="expansion", progress=False, **NEW)
    monkeypatch.undo()
    assert halo.io.recover_interrupted_write(path) == "finished"
    assert halo.io.recover_interrupted_write(path) is None
    sdata = read_zarr(path)
    _assert_same(_snapshot(sdata), new)
    halo.tl.segment(sdata, method="expansion", progress=False)  # and a later run works as usual
    _assert_same(_snapshot(read_zarr(path)), old)


def test_crashed_tile_on_a_backed_store_changes_nothing(stores, tmp_path, monkeypatch):
    base, old, _ = stores
    path = tmp_path / "store.zarr"
    shutil.copytree(base, path)
    files_before = sorted(str(p.relative_to(path)) for p in path.rglob("*"))
    sdata = read_zarr(path)

    def broken(*args, **kwargs):
        raise RuntimeError("tile crashed")

    monkeypatch.setattr("halo._pipeline._run.segment_tile", broken)
    with pytest.raises(RuntimeError, match="tile crashed"):
        halo.tl.segment(sdata, method="expansion", progress=False, **NEW)
    assert sorted(str(p.relative_to(path)) for p in path.rglob("*")) == files_before
    _assert_same(_snapshot(read_zarr(path)), old)
    _assert_same(_snapshot(sdata), old)
