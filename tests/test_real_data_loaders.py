"""Checks of the real-data loaders of ``halo.datasets`` against the shared crops; skipped when the crops are absent."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from spatialdata.transformations import get_transformation, get_transformation_between_coordinate_systems

import halo
from halo import datasets

# sopa's default control-feature filter (see shared notes)
_CONTROL_RE = re.compile(
    r"nan|<NA>|.*control.*|blank.*|antisense.*|unassigned.*|deprecated.*|intergenic.*|false.*|neg.*", re.IGNORECASE
)


def _data_dir() -> Path:
    try:
        return datasets.shared_data_dir()
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
    if not (data_dir / "xenium_breast_crop_raw").is_dir():
        pytest.skip(f"{data_dir / 'xenium_breast_crop_raw'} absent")
    return datasets.xenium_breast_crop(), _npz("xenium_breast_crop.npz")


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
    markers = datasets.breast_markers()
    assert set(markers) == {"pos", "neg"}
    assert markers["pos"].shape == markers["neg"].shape
    assert (markers["pos"].index == markers["neg"].index).all()
    assert markers["pos"].dtypes.eq(bool).all()
    lists = datasets.breast_markers(as_lists=True)
    ct = markers["pos"].index[0]
    assert lists["pos"][ct] == list(markers["pos"].columns[markers["pos"].loc[ct].to_numpy()])
    npz_genes = set(_npz("xenium_breast_crop.npz")["genes"].astype(str))
    assert set(markers["pos"].columns) == npz_genes


@pytest.mark.parametrize("z", [0, 1])
def test_merscope(z: int) -> None:
    npz = _npz(f"merscope_brain_crop_z{z}.npz")
    sdata = datasets.merscope_brain_crop(z)
    keys = datasets.merscope_keys(z)
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


def test_xenium_crop_origin_and_pixel_size_are_the_documented_ones(xenium) -> None:
    sdata, _ = xenium
    matrix = halo.io.affine_between(sdata, "transcripts", "morphology_focus")
    expected = halo.io.microns_to_pixels(datasets.XENIUM_UM_PER_PX, datasets.XENIUM_CROP_ORIGIN_UM)
    np.testing.assert_array_equal(matrix, expected.to_affine_matrix(("x", "y"), ("x", "y")))
    # the README's rule: col = (x - 1062.5) / 0.2125
    np.testing.assert_allclose(halo.io.apply_affine(matrix, np.array([[1062.5 + 2.125, 212.5]])), [[10.0, 0.0]])


def test_cosmx() -> None:
    npz = _npz("cosmx_lung12_fov2.npz")
    sdata = datasets.cosmx_lung_crop()
    keys = datasets.COSMX_KEYS
    assert set(sdata.images) == {keys["image"]} and set(sdata.points) == {keys["points"]}
    assert set(sdata.labels) == {keys["labels"]} == {"vendor_cells"}
    image = sdata[keys["image"]]["scale0"]["image"]
    assert list(image.coords["c"].values) == ["DAPI"] and image.dtype == np.uint8
    np.testing.assert_array_equal(image.values[0], npz["dapi"])
    labels = sdata[keys["labels"]]["scale0"]
    labels = labels[next(iter(labels.data_vars))]
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels.values, npz["gt_labels"])
    assert len(np.unique(npz["gt_labels"])) - 1 == 67  # the README's count of reference cells

    points = sdata[keys["points"]]
    assert points.attrs["spatialdata_attrs"] == {"feature_key": "target", "instance_key": "cell_ID"}
    df = points.compute()
    assert len(df) == len(npz["tx_x"])
    np.testing.assert_array_equal(df["target"].astype(str).to_numpy(), npz["genes"][npz["tx_gene"]])
    np.testing.assert_array_equal(df["cell_ID"].to_numpy(), npz["vendor_cell"])
    px = halo.io.apply_affine(halo.io.affine_between(sdata, keys["points"], keys["image"]), df[["x", "y"]].to_numpy())
    np.testing.assert_allclose(px[:, 0], npz["tx_x"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(px[:, 1], npz["tx_y"], rtol=0, atol=1e-3)
    # microns: the field is 672 x 648 px at 0.18 um/px, about 121 x 117 um
    assert 100 < df["x"].max() - df["x"].min() < 121
    # the vendor cell of a transcript is nearly always the label under it
    under = npz["gt_labels"][npz["tx_y"].astype(int), npz["tx_x"].astype(int)]
    assert (under == df["cell_ID"].to_numpy()).mean() > 0.95


def test_default_folder_is_next_to_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(datasets.SHARED_DATA_ENV_VAR, raising=False)
    checkout = Path(__file__).resolve().parents[1]
    expected = checkout.parent / "shared" / "data"
    if not expected.is_dir():
        pytest.skip(f"{expected} absent")
    assert datasets.shared_data_dir() == expected


def test_installed_halo_needs_the_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from halo.datasets import _real

    monkeypatch.delenv(datasets.SHARED_DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(_real, "_checkout_root", lambda: None)  # as from a wheel in site-packages
    with pytest.raises(FileNotFoundError, match="set \\$HALO_SHARED_DATA"):
        datasets.shared_data_dir()
    monkeypatch.setenv(datasets.SHARED_DATA_ENV_VAR, str(tmp_path))
    assert datasets.shared_data_dir() == tmp_path


def test_missing_folder_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(datasets.SHARED_DATA_ENV_VAR, str(tmp_path / "nope"))
    for loader in (datasets.xenium_breast_crop, datasets.merscope_brain_crop, datasets.cosmx_lung_crop):
        with pytest.raises(FileNotFoundError, match="HALO_SHARED_DATA"):
            loader()
    with pytest.raises(FileNotFoundError, match="HALO_SHARED_DATA"):
        datasets.breast_markers()


def test_missing_file_in_the_folder_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(datasets.SHARED_DATA_ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="morphology_mip_small.tif"):
        datasets.xenium_breast_crop()
    with pytest.raises(FileNotFoundError, match="cosmx_lung12_fov2.npz"):
        datasets.cosmx_lung_crop()
    with pytest.raises(FileNotFoundError, match="z=1"):
        datasets.merscope_brain_crop(1)
