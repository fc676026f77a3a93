"""Zarr persistence, coordinate transformations, and inputs made by other tools."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from spatialdata import read_zarr
from spatialdata.transformations import Scale, Sequence, Translation, get_transformation, set_transformation

import halo
from tests.conftest import grid_pixel_centres, transcripts_in_pixels

OUTPUTS = ("halo_boundaries", "halo_nuclei", "halo_table")


def _assert_same_outputs(a, b, points_key="transcripts"):
    for key in ("halo_boundaries", "halo_nuclei"):
        assert a[key].index.equals(b[key].index)
        assert shapely.equals_exact(a[key].geometry.to_numpy(), b[key].geometry.to_numpy(), tolerance=0).all()
        assert get_transformation(a[key], get_all=True) == get_transformation(b[key], get_all=True)
    ta, tb = a["halo_table"], b["halo_table"]
    assert (ta.X != tb.X).nnz == 0 and (ta.layers["counts"] != tb.layers["counts"]).nnz == 0
    pd.testing.assert_frame_equal(ta.obs, tb.obs)
    np.testing.assert_array_equal(ta.obsm["spatial"], tb.obsm["spatial"])
    assert list(ta.var_names) == list(tb.var_names)
    np.testing.assert_array_equal(
        a[points_key]["halo_cell_id"].compute().to_numpy(), b[points_key]["halo_cell_id"].compute().to_numpy()
    )


def test_zarr_round_trip_is_exact(segmented, tmp_path):
    segmented.write(tmp_path / "seg.zarr")
    _assert_same_outputs(segmented, read_zarr(tmp_path / "seg.zarr"))


def test_backed_object_persists_new_elements_and_keeps_the_rest(small_sdata, tmp_path):
    path = tmp_path / "backed.zarr"
    small_sdata.write(path)
    sdata = read_zarr(path)
    image_before = sdata["dapi"].data.compute()
    halo.tl.segment(sdata, method="expansion", progress=False)
    on_disk = read_zarr(path)
    _assert_same_outputs(sdata, on_disk)
    np.testing.assert_array_equal(on_disk["dapi"].data.compute(), image_before)
    columns = {"x", "y", "feature_name", "qv", "true_cell_id", "true_diffused", "halo_cell_id"}
    assert set(on_disk["transcripts"].columns) == columns
    assert len(on_disk["transcripts"]) == len(small_sdata["transcripts"])

    # a second run replaces the first on disk, and leaves no temporary element behind
    halo.tl.segment(sdata, method="expansion", expansion_um=2.0, progress=False)
    again = read_zarr(path)
    _assert_same_outputs(sdata, again)
    assert again["halo_table"].uns["halo"]["params"]["expansion_um"] == 2.0
    assert not [name for _, name, _ in again.gen_elements() if "tmp" in name]


def test_writing_the_table_gives_no_anndata_sharding_warning_and_keeps_the_users_setting(small_sdata, tmp_path):
    import warnings

    import anndata as ad

    small_sdata.write(tmp_path / "backed.zarr")
    sdata = read_zarr(tmp_path / "backed.zarr")
    # anndata's default: unset (None) in 0.12, which warns on every write; True in 0.13, which warns no more
    users = ad.settings.auto_shard_zarr_v3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        halo.tl.segment(sdata, method="expansion", progress=False)
    assert not [w for w in caught if "autosharding" in str(w.message)]
    assert ad.settings.auto_shard_zarr_v3 is users  # as it was before
    assert read_zarr(tmp_path / "backed.zarr")["halo_table"].n_obs == len(sdata["halo_boundaries"])


def test_shifting_the_transcripts_moves_their_assignment(small_sdata):
    reference = halo.datasets.synthetic(size_um=(110.0, 90.0), seed=3)
    halo.tl.segment(reference, method="expansion", progress=False)
    shift_px = 15
    to_pixels = get_transformation(small_sdata["transcripts"], "global")
    set_transformation(
        small_sdata["transcripts"],
        Sequence([to_pixels, Translation([shift_px, 0], axes=("x", "y"))]),
        "global",
    )
    halo.tl.segment(small_sdata, method="expansion", progress=False)
    # the cells come from the image and do not move; the transcripts land in other cells
    assert shapely.equals(
        reference["halo_boundaries"].geometry.to_numpy(), small_sdata["halo_boundaries"].geometry.to_numpy()
    ).all()
    frame = transcripts_in_pixels(small_sdata)
    np.testing.assert_allclose(frame["px"] - transcripts_in_pixels(reference)["px"], shift_px, atol=1e-6)
    assigned = frame[frame["halo_cell_id"] > 0]
    cells = small_sdata["halo_boundaries"].geometry.loc[assigned["halo_cell_id"].to_numpy()].to_numpy()
    assert shapely.contains(cells, grid_pixel_centres(assigned)).all()
    before = reference["transcripts"]["halo_cell_id"].compute().to_numpy()
    assert (before != frame["halo_cell_id"].to_numpy()).mean() > 0.3


def test_image_transformation_travels_to_the_outputs(small_sdata):
    moved = Sequence([Scale([2.0, 2.0], axes=("x", "y")), Translation([100.0, -40.0], axes=("x", "y"))])
    set_transformation(small_sdata["dapi"], moved, "global")
    points = get_transformation(small_sdata["transcripts"], "global")
    set_transformation(small_sdata["transcripts"], Sequence([points, moved]), "global")
    reference = halo.datasets.synthetic(size_um=(110.0, 90.0), seed=3)
    halo.tl.segment(reference, method="expansion", progress=False)
    halo.tl.segment(small_sdata, method="expansion", progress=False)
    # the pixel-space results are unchanged, and the shapes carry the image's new transformation
    assert get_transformation(small_sdata["halo_boundaries"], "global") == moved
    assert shapely.equals(
        reference["halo_boundaries"].geometry.to_numpy(), small_sdata["halo_boundaries"].geometry.to_numpy()
    ).all()
    np.testing.assert_allclose(
        small_sdata["halo_table"].obs["area_um2"], reference["halo_table"].obs["area_um2"], rtol=1e-12
    )


def test_pixel_size_follows_the_micron_scale(small_sdata):
    # transcripts given in a unit twice as small: same pixels, areas four times as large in "um^2"
    frame = small_sdata["transcripts"].compute()
    reference = halo.datasets.synthetic(size_um=(110.0, 90.0), seed=3)
    halo.tl.segment(reference, method="expansion", progress=False)
    halo.tl.segment(small_sdata, method="expansion", um_per_px=0.2125 * 2, expansion_um=10.0, progress=False)
    assert len(frame) == len(small_sdata["transcripts"])
    np.testing.assert_allclose(
        small_sdata["halo_table"].obs["nucleus_area_um2"].sum(),
        4 * reference["halo_table"].obs["nucleus_area_um2"].sum(),
        rtol=0.25,
    )


def test_runs_on_sopa_toy_dataset():
    sopa = pytest.importorskip("sopa")
    sdata = sopa.io.toy_dataset(length=512, seed=0)
    halo.tl.segment(sdata, method="expansion", progress=False)
    table = sdata["halo_table"]
    assert table.n_obs == len(sdata["halo_boundaries"]) > 5
    assigned = sdata["transcripts"]["halo_cell_id"].compute()
    assert table.X.sum() == (assigned > 0).sum()
    assert table.uns["halo"]["params"]["image_key"] == "image"
    assert table.uns["halo"]["params"]["um_per_px"] == pytest.approx(0.1)


def test_genes_of_unknown_categories_keep_one_order_whatever_the_files_list():
    import dask.dataframe as dd

    from halo.io._transcripts import _gene_names

    parts = [
        pd.DataFrame({"feature_name": pd.Categorical(names, categories=order)})
        for names, order in ((["b", "a"], ["b", "a"]), (["c", "a"], ["c", "a"]))
    ]
    column = dd.concat([dd.from_pandas(p, npartitions=1) for p in parts])["feature_name"].cat.as_unknown()
    flipped = dd.concat([dd.from_pandas(p, npartitions=1) for p in parts[::-1]])["feature_name"].cat.as_unknown()
    assert list(_gene_names(column)) == list(_gene_names(flipped)) == ["a", "b", "c"]
    known = dd.from_pandas(parts[0], npartitions=1)["feature_name"]  # a known order is the user's: kept
    assert list(_gene_names(known)) == ["b", "a"]


def test_shapes_written_in_row_groups_read_back_as_geopandas_writes_them(small_sdata, tmp_path, monkeypatch):
    """Shapes are encoded a slice of rows at a time; file and element must be what one geopandas write gives."""
    import json

    import pyarrow.parquet as pq

    from halo.io import _shapes_parquet

    monkeypatch.setattr(_shapes_parquet, "ROWS_PER_GROUP", 7)
    path = tmp_path / "backed.zarr"
    small_sdata.write(path)
    sdata = read_zarr(path)
    halo.tl.segment(sdata, method="expansion", progress=False)
    on_disk = read_zarr(path)
    _assert_same_outputs(sdata, on_disk)
    for key in ("halo_boundaries", "halo_nuclei"):
        assert len(sdata[key]) > 7  # several row groups
        written = path / "shapes" / key / "shapes.parquet"
        assert pq.ParquetFile(written).metadata.num_row_groups == -(-len(sdata[key]) // 7)
        reference = tmp_path / f"{key}.parquet"
        bare = sdata[key].copy(deep=False)
        bare.attrs = {}
        bare.to_parquet(reference)
        geo = [json.loads(pq.read_schema(p).metadata[b"geo"]) for p in (written, reference)]
        assert geo[0] == geo[1]
        assert pq.read_table(written).equals(pq.read_table(reference))


def test_shapes_fall_back_to_spatialdatas_writer_without_geopandas_helpers(small_sdata, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from halo.io import _shapes_parquet

    monkeypatch.setattr(_shapes_parquet, "ROWS_PER_GROUP", 7)
    monkeypatch.setattr(_shapes_parquet, "_geopandas_knows_how", lambda: False)
    path = tmp_path / "backed.zarr"
    small_sdata.write(path)
    sdata = read_zarr(path)
    halo.tl.segment(sdata, method="expansion", progress=False)
    _assert_same_outputs(sdata, read_zarr(path))
    assert pq.ParquetFile(path / "shapes" / "halo_boundaries" / "shapes.parquet").metadata.num_row_groups == 1
