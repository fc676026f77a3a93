"""The same input gives the same shapes, table and assignment: run after run, for any tile size and any dask scheduler.

No step of ``halo.tl.segment`` draws random numbers (thresholds, watershed and expansion are deterministic, and
cell ids are ordered by a slide-wide key); the synthetic data are drawn from a seeded generator.
"""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest
import shapely

import halo


def _build():
    return halo.datasets.synthetic(size_um=(90.0, 70.0), seed=11)


def _result(sdata):
    table = sdata["halo_table"]
    return {
        "cells": shapely.to_wkb(sdata["halo_boundaries"].geometry.to_numpy()).tolist(),
        "cell_ids": sdata["halo_boundaries"].index.to_numpy(),
        "nuclei": shapely.to_wkb(sdata["halo_nuclei"].geometry.to_numpy()).tolist(),
        "nucleus_ids": sdata["halo_nuclei"].index.to_numpy(),
        "counts": table.X.toarray(),
        "obs": table.obs,
        "spatial": table.obsm["spatial"],
        "genes": list(table.var_names),
        "assignment": sdata["transcripts"]["halo_cell_id"].compute().to_numpy(),
    }


def _assert_identical(a, b, *, confidence_rtol=0.0):
    assert a["cells"] == b["cells"] and a["nuclei"] == b["nuclei"]  # byte-identical geometries
    for key in ("cell_ids", "nucleus_ids", "counts", "spatial", "assignment"):
        np.testing.assert_array_equal(a[key], b[key])
    exact = [c for c in a["obs"].columns if c != "confidence"]
    pd.testing.assert_frame_equal(a["obs"][exact], b["obs"][exact], check_exact=True)
    if "confidence" in a["obs"]:
        np.testing.assert_allclose(a["obs"]["confidence"], b["obs"]["confidence"], rtol=confidence_rtol, atol=0)
    assert a["genes"] == b["genes"]


@pytest.fixture(scope="module")
def reference():
    sdata = _build()
    with dask.config.set(scheduler="synchronous"):
        halo.tl.segment(sdata, progress=False)
    return _result(sdata)


def test_synthetic_data_are_seeded():
    a, b, c = _build(), _build(), halo.datasets.synthetic(size_um=(90.0, 70.0), seed=12)
    np.testing.assert_array_equal(a["dapi"].data.compute(), b["dapi"].data.compute())
    pd.testing.assert_frame_equal(a["transcripts"].compute(), b["transcripts"].compute())
    assert not np.array_equal(a["dapi"].data.compute(), c["dapi"].data.compute())


def test_repeated_runs_are_identical(reference):
    sdata = _build()
    halo.tl.segment(sdata, progress=False)
    _assert_identical(_result(sdata), reference)
    halo.tl.segment(sdata, progress=False)  # again on the same object, replacing its own results
    _assert_identical(_result(sdata), reference)


#: Small cells (nuclei up to 80 um^2, cells reaching 3 um beyond) so that tiles of 34-47 um are allowed.
METHOD_OPTIONS = {
    "expansion": {"method": "expansion", "expansion_um": 3.0, "nucleus_options": {"max_area_um2": 80.0}},
    "halo": {"method": "halo", "max_reach_um": 3.0, "nucleus_options": {"max_area_um2": 80.0}},
}


@pytest.fixture(scope="module")
def one_tile():
    """The result of each method on one tile, synchronously: the one baseline every other run must equal."""
    results = {}

    def result(method: str):
        if method not in results:
            sdata = _build()
            with dask.config.set(scheduler="synchronous"):
                halo.tl.segment(sdata, tile_um=1000.0, overlap_um=33.0, progress=False, **METHOD_OPTIONS[method])
            assert sdata["halo_table"].uns["halo"]["params"]["n_tiles"] == 1
            results[method] = _result(sdata)
        return results[method]

    return result


@pytest.mark.parametrize("method", list(METHOD_OPTIONS))
@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"scheduler": "threads", "num_workers": 1}, id="threads-1"),
        pytest.param({"scheduler": "threads", "num_workers": 2}, id="threads-2"),
        pytest.param({"scheduler": "processes", "num_workers": 2, "multiprocessing.context": "fork"}, id="processes-2"),
    ],
)
def test_every_scheduler_and_worker_count_gives_the_same_result(one_tile, config, method):
    sdata = _build()
    with dask.config.set(config):
        halo.tl.segment(sdata, tile_um=40.0, overlap_um=39.0, progress=False, **METHOD_OPTIONS[method])
    assert sdata["halo_table"].uns["halo"]["params"]["n_tiles"] >= 4
    # forked workers run the network on one thread, which changes the last bits of its float sums: a probability
    # can round to the next of its 256 levels, moving a cell's confidence by a fraction of a percent
    forked = config["scheduler"] == "processes" and method == "halo"
    _assert_identical(_result(sdata), one_tile(method), confidence_rtol=0.01 if forked else 0.0)


@pytest.mark.parametrize("method", list(METHOD_OPTIONS))
@pytest.mark.parametrize("tile_um", [34.0, 47.5])
def test_every_tile_size_gives_the_same_result(one_tile, tile_um, method):
    tiled = _build()
    halo.tl.segment(tiled, tile_um=tile_um, overlap_um=33.0, progress=False, **METHOD_OPTIONS[method])
    assert tiled["halo_table"].uns["halo"]["params"]["n_tiles"] > 1
    _assert_identical(_result(tiled), one_tile(method))


def test_the_network_batch_size_changes_no_cell(reference, monkeypatch):
    """A CPU runs the network 2 patches at a time (less memory per tile); 8 at a time gives the same cells."""
    import torch

    import halo.model._predict as infer

    assert infer.inference_batch_size(torch.device("cpu")) == 2
    monkeypatch.setattr(infer, "inference_batch_size", lambda device: 8)
    sdata = _build()
    with dask.config.set(scheduler="synchronous"):
        halo.tl.segment(sdata, progress=False)
    # the convolutions' sums change in their last bits with the batch: a probability may round to the next level
    _assert_identical(_result(sdata), reference, confidence_rtol=0.01)


@pytest.mark.parametrize("method", list(METHOD_OPTIONS))
def test_how_the_points_element_is_partitioned_does_not_matter(one_tile, method):
    """Transcripts are streamed partition by partition: any partitioning gives the same cells, counts and ids."""
    import dask.dataframe as dd
    from spatialdata.models import PointsModel

    many = _build()
    frame = many["transcripts"].compute()
    points = PointsModel.parse(
        dd.from_pandas(frame, npartitions=7, sort=False),
        feature_key=many["transcripts"].attrs["spatialdata_attrs"]["feature_key"],
        transformations=many["transcripts"].attrs["transform"],
    )
    many["transcripts"] = points
    assert many["transcripts"].npartitions == 7
    halo.tl.segment(many, tile_um=40.0, overlap_um=39.0, progress=False, **METHOD_OPTIONS[method])
    _assert_identical(_result(many), one_tile(method))


def test_a_distributed_cluster_of_processes_gives_the_same_result(reference):
    """``client=``: the tiles run on a dask.distributed LocalCluster of worker processes, with the same result."""
    distributed = pytest.importorskip("distributed")
    sdata = _build()
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        halo.tl.segment(sdata, client=client, progress=True)
    # worker processes run the network on one thread (see the forked-worker note above)
    _assert_identical(_result(sdata), reference, confidence_rtol=0.01)


def test_dense_tissue_gives_the_same_cells_for_any_tile_size(tmp_path):
    # touching nuclei in merged stain, tiles of 130 um (9 tiles) and 200 um (4): every window cuts the tissue
    # elsewhere, so whatever a window's edge could change (hole filling, blob splitting) shows here
    sdata = halo.datasets.tiled_slide(
        tmp_path / "dense.zarr", size_um=360.0, block_um=120.0, seed=5, tissue_fraction=1.0,
        archetypes=("dense_lymphoid", "pleomorphic_tumour"), chunk_px=512, progress=False,
    )  # fmt: skip
    results = []
    for tile_um in (130.0, 200.0):
        halo.tl.segment(sdata, tile_um=tile_um, progress=False)
        assert sdata["halo_table"].uns["halo"]["params"]["n_tiles"] == (9 if tile_um == 130.0 else 4)
        results.append(_result(sdata))
    _assert_identical(*results)


def test_the_nucleus_network_gives_the_same_cells_for_any_tile_size():
    """Its patches sit on a grid fixed to the slide, and each nucleus is decoded from its own pixels."""
    options = {**METHOD_OPTIONS["expansion"], "nuclei_source": "learned", "overlap_um": 33.0}
    results = []
    for tile_um in (1000.0, 34.0):
        sdata = _build()
        halo.tl.segment(sdata, tile_um=tile_um, progress=False, **options)
        assert sdata["halo_table"].uns["halo"]["params"]["nuclei_source"] == "learned"
        results.append(_result(sdata))
    _assert_identical(*results)
    assert len(results[0]["cell_ids"]) > 20
