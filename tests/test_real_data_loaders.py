"""Checks of ``benchmarks/real_data.py`` against the shared crops; skipped when the crops are absent."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from spatialdata.transformations import get_transformation, get_transformation_between_coordinate_systems

from tests.benchmark_scripts import load_benchmark

# sopa's default control-feature filter (see shared notes)
_CONTROL_RE = re.compile(
    r"nan|<NA>|.*control.*|blank.*|antisense.*|unassigned.*|deprecated.*|intergenic.*|false.*|neg.*", re.IGNORECASE
)


real_data = load_benchmark("real_data")


def _data_dir() -> Path:
    try:
        return real_data.shared_data_dir()
    except FileNotFoundError as err:
        pytest.skip(f"shared real data absent: {err}")


def _npz(name: str) -> dict[str, np.ndarray]:
    path = _data_dir() / name
    if not path.exists():
        pytest.skip(f"{path} absent")
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def xenium():
    data_dir = _data_dir()
    if not (data_dir / real_data.XENIUM_RAW_DIR).is_dir():
        pytest.skip(f"{data_dir / real_data.XENIUM_RAW_DIR} absent")
    return real_data.xenium_breast_crop(), _npz("xenium_breast_crop.npz")


def test_xenium_elements(xenium) -> None:
    sdata, npz = xenium
    assert set(sdata.images) == {"morphology_focus"}
    assert set(sdata.points) == {"transcripts"}
    assert not sdata.labels and not sdata.shapes and not sdata.tables
    image = sdata["morphology_focus"]["scale0"]["image"]
    assert image.dims == ("c", "y", "x")
    assert list(image.coords["c"].values) == ["DAPI"]
    assert image.dtype == np.uint16
    assert image.shape[1:] == npz["dapi"].shape
    np.testing.assert_array_equal(image.values[0], npz["dapi"])
    to_global = get_transformation(sdata["morphology_focus"], "global")
    np.testing.assert_array_equal(to_global.to_affine_matrix(("x", "y"), ("x", "y")), np.eye(3))


def test_xenium_transcripts_match_npz(xenium) -> None:
    sdata, npz = xenium
    points = sdata["transcripts"]
    assert points.attrs["spatialdata_attrs"] == {"feature_key": "feature_name", "instance_key": "cell_id"}
    df = points.compute()
    assert isinstance(df["feature_name"].dtype, pd.CategoricalDtype)
    assert {"x", "y", "z", "qv", "cell_id", "overlaps_nucleus", "transcript_id"} <= set(df.columns)
    # the npz keeps qv >= 20 and drops controls; the raw CSV is already filtered the same way
    kept = (df["qv"] >= 20) & ~df["feature_name"].astype(str).str.fullmatch(_CONTROL_RE)
    assert int(kept.sum()) == len(npz["tx_x"]) == len(df)
    # same rows, same order: genes and vendor cells agree
    np.testing.assert_array_equal(df["feature_name"].astype(str).to_numpy(), npz["genes"][npz["tx_gene"]])
    np.testing.assert_array_equal(df["cell_id"].to_numpy(), npz["vendor_cell"])


def test_xenium_transform_maps_microns_to_npz_pixels(xenium) -> None:
    sdata, npz = xenium
    t = get_transformation_between_coordinate_systems(sdata, sdata["transcripts"], sdata["morphology_focus"])
    matrix = t.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y"))
    df = sdata["transcripts"].compute()
    idx = np.random.default_rng(0).choice(len(df), size=2000, replace=False)
    xy1 = np.c_[df["x"].to_numpy()[idx], df["y"].to_numpy()[idx], np.ones(idx.size)]
    px = xy1 @ matrix.T
    np.testing.assert_allclose(px[:, 0], npz["tx_x"][idx], rtol=0, atol=1e-3)
    np.testing.assert_allclose(px[:, 1], npz["tx_y"][idx], rtol=0, atol=1e-3)


def test_breast_markers() -> None:
    _data_dir()
    markers = real_data.breast_markers()
    assert set(markers) == {"pos", "neg"}
    assert markers["pos"].shape == markers["neg"].shape
    assert (markers["pos"].index == markers["neg"].index).all()
    assert markers["pos"].dtypes.eq(bool).all()
    lists = real_data.breast_markers(as_lists=True)
    ct = markers["pos"].index[0]
    assert lists["pos"][ct] == list(markers["pos"].columns[markers["pos"].loc[ct].to_numpy()])
    npz_genes = set(_npz("xenium_breast_crop.npz")["genes"].astype(str))
    assert set(markers["pos"].columns) == npz_genes


@pytest.mark.parametrize("z", [0, 1])
def test_merscope(z: int) -> None:
    npz = _npz(f"merscope_brain_crop_z{z}.npz")
    sdata = real_data.merscope_brain_crop(z)
    keys = real_data.merscope_keys(z)
    assert set(sdata.images) == {keys["image"]}
    assert set(sdata.points) == {keys["points"]}
    assert set(sdata.labels) == {keys["labels"]} == {"vendor_cells"}
    image = sdata[keys["image"]]["scale0"]["image"]
    assert list(image.coords["c"].values) == ["DAPI"] and image.dtype == np.uint8
    assert image.shape[1:] == npz["dapi"].shape
    labels = sdata[keys["labels"]]["scale0"]
    labels = labels[next(iter(labels.data_vars))]
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels.values, npz["gt_labels"])

    points = sdata[keys["points"]]
    assert points.attrs["spatialdata_attrs"]["feature_key"] == "gene"
    df = points.compute()
    assert len(df) == len(npz["tx_x"])
    np.testing.assert_array_equal(df["gene"].astype(str).to_numpy(), npz["genes"][npz["tx_gene"]])
    t = get_transformation_between_coordinate_systems(sdata, points, sdata[keys["image"]])
    matrix = t.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y"))
    px = np.c_[df["x"].to_numpy(), df["y"].to_numpy(), np.ones(len(df))] @ matrix.T
    np.testing.assert_allclose(px[:, 0], npz["tx_x"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(px[:, 1], npz["tx_y"], rtol=0, atol=1e-3)
    # microns really are microns: the image spans ~500 x 450 um
    assert 400 < df["x"].max() - df["x"].min() < 520


def test_missing_folder_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(real_data.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="HALO_SHARED_DATA"):
        real_data.xenium_breast_crop()
    with pytest.raises(FileNotFoundError):
        real_data.merscope_brain_crop(0)
