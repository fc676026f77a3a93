"""Bounded memory at whole-slide scale: the points element is streamed, never read whole; temporary files go away."""

from __future__ import annotations

import numpy as np
import pytest

import halo


def _build():
    return halo.datasets.synthetic(size_um=(90.0, 70.0), seed=11)


@pytest.mark.parametrize("method", ["expansion", "halo"])
def test_the_points_element_is_never_read_whole(method, monkeypatch):
    sdata = _build()
    frame_type = type(sdata["transcripts"])
    n_rows = len(sdata["transcripts"])

    def refuse(self, *args, **kwargs):
        msg = "the whole points element was computed"
        raise AssertionError(msg)

    monkeypatch.setattr(frame_type, "compute", refuse)
    halo.tl.segment(sdata, method=method, tile_um=40.0, overlap_um=39.0, progress=False,
                    nucleus_options={"max_area_um2": 80.0}, expansion_um=3.0, max_reach_um=3.0)  # fmt: skip
    monkeypatch.undo()
    assignment = sdata["transcripts"]["halo_cell_id"].compute().to_numpy()
    assert assignment.size == n_rows and assignment.dtype == np.int32
    counted = sdata["halo_table"].X.sum()
    assert counted == (assignment > 0).sum()


def test_temporary_files_are_removed_after_a_run_and_after_a_failure(tmp_path):
    sdata = _build()
    halo.tl.segment(sdata, method="expansion", scratch_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="No nuclei found"):
        halo.tl.segment(sdata, method="expansion", scratch_dir=tmp_path, progress=False,
                        nucleus_options={"threshold": 0.999, "min_area_um2": 399.0})  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_transcripts_partitioned_by_tile_are_each_read_once(tmp_path):
    from halo._tiling import Box
    from halo.io import TranscriptFilter, partition_transcripts

    sdata = _build()
    points = sdata["transcripts"].repartition(npartitions=3)
    points.attrs.update(sdata["transcripts"].attrs)
    to_pixels = halo.io.affine_between(sdata, "transcripts", "dapi")
    keep = TranscriptFilter.of(points, "transcripts", to_pixels, control_pattern=None, min_qv=None)
    shape = sdata["dapi"].shape[1:]
    parts = partition_transcripts(points, keep, tmp_path, slide_shape=shape, core_px=97)
    n_tiles = parts.runs.shape[1] - 1
    rows = np.concatenate([parts.tiles([t])["rows"] for t in range(n_tiles)])
    x, y, gene, _ = keep.apply(points.compute())
    on_image = (x >= 0) & (x < shape[1]) & (y >= 0) & (y < shape[0]) & (gene >= 0)
    np.testing.assert_array_equal(np.sort(rows), np.flatnonzero(on_image))  # each kept transcript exactly once
    assert parts.n_total == len(x) and parts.n_kept == on_image.sum()
    box = Box(30, 150, 20, 170)
    found = parts.in_box(box)
    inside = on_image & (x >= 20) & (x < 170) & (y >= 30) & (y < 150)
    np.testing.assert_array_equal(found["rows"], np.flatnonzero(inside))
    np.testing.assert_array_equal(found["x"], x[inside])
    np.testing.assert_array_equal(found["y"], y[inside])
    np.testing.assert_array_equal(found["gene"], gene[inside])


def test_outlines_traced_on_several_threads_leak_no_rasterio_warning():
    # rasterio silences its NotGeoreferencedWarning (an identity transform) with warnings.catch_warnings, which is
    # not thread-safe: tiles on two threads let it through, into the user's notebook, unless halo serialises them.
    # In a fresh interpreter: pytest's own warning capture would hide the leak here.
    import subprocess
    import sys

    script = """
import threading
import numpy as np
from halo._geometry._polygons import labels_to_ragged
labels = (np.random.default_rng(0).random((60, 60)) > 0.5).astype(np.int32)
def trace():
    for _ in range(200):
        labels_to_ragged(labels, np.arange(1, 2))
threads = [threading.Thread(target=trace) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "NotGeoreferencedWarning" not in run.stderr
