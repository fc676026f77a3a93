"""The tiny Xenium folder written by ``vendor_folders`` reads back through ``spatialdata_io.xenium``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

spatialdata_io = pytest.importorskip("spatialdata_io")
pytest.importorskip("tifffile")

from spatialdata import transform  # noqa: E402
from spatialdata.transformations import get_transformation_between_coordinate_systems  # noqa: E402

from tests.vendor_folders import (  # noqa: E402
    XENIUM_CONTROL_FEATURES,
    XENIUM_READER_KWARGS,
    write_xenium_folder,
)

UM_PER_PX = 0.2125
SHAPE = (96, 128)  # (y, x) pixels
N_TX = 300
N_CONTROLS = 7


def _inputs(seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dapi = rng.integers(0, 4000, SHAPE, dtype=np.uint16)
    tx = pd.DataFrame(
        {
            "x_location": rng.uniform(0, SHAPE[1] * UM_PER_PX, N_TX),
            "y_location": rng.uniform(0, SHAPE[0] * UM_PER_PX, N_TX),
            "z_location": rng.uniform(10.0, 20.0, N_TX),
            "feature_name": rng.choice(["EPCAM", "PTPRC", "ACTA2"], N_TX),
            "qv": rng.uniform(20.0, 40.0, N_TX),
            "cell_id": rng.choice(["UNASSIGNED", "aaaabbbb-1", "aaaacccc-1"], N_TX),
            "overlaps_nucleus": rng.integers(0, 2, N_TX),
        }
    )
    # a transcript at a known spot, checked against the image pixel grid below
    tx.loc[0, ["x_location", "y_location", "feature_name"]] = [10.625, 4.25, "EPCAM"]
    return dapi, tx


@pytest.fixture(scope="module")
def xenium_sdata(tmp_path_factory: pytest.TempPathFactory):
    dapi, tx = _inputs()
    path = write_xenium_folder(
        tmp_path_factory.mktemp("xenium") / "outs",
        dapi=dapi,
        transcripts=tx,
        um_per_px=UM_PER_PX,
        n_control_transcripts=N_CONTROLS,
    )
    return path, dapi, tx, spatialdata_io.xenium(path, **XENIUM_READER_KWARGS)


def test_folder_files(xenium_sdata) -> None:
    path, *_ = xenium_sdata
    names = {p.relative_to(path).as_posix() for p in Path(path).rglob("*") if p.is_file()}
    assert names == {
        "experiment.xenium",
        "cells.zarr.zip",
        "transcripts.parquet",
        "morphology_focus/morphology_focus_0000.ome.tif",
    }


def test_image(xenium_sdata) -> None:
    _, dapi, _, sdata = xenium_sdata
    assert set(sdata.images) == {"morphology_focus"}
    image = sdata["morphology_focus"]["scale0"]["image"]
    assert image.dims == ("c", "y", "x")
    assert image.shape == (1, *SHAPE)
    assert list(image.coords["c"].values) == ["DAPI"]
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image.values[0], dapi)


def test_transcripts(xenium_sdata) -> None:
    _, _, tx, sdata = xenium_sdata
    assert set(sdata.points) == {"transcripts"}
    points = sdata["transcripts"]
    attrs = points.attrs["spatialdata_attrs"]
    assert attrs["feature_key"] == "feature_name"
    assert attrs["instance_key"] == "cell_id"
    df = points.compute()
    assert len(df) == N_TX + N_CONTROLS
    assert {"x", "y", "z", "feature_name", "qv", "cell_id", "overlaps_nucleus", "transcript_id"} <= set(df.columns)
    assert isinstance(df["feature_name"].dtype, pd.CategoricalDtype)
    controls = df[df["feature_name"].isin(XENIUM_CONTROL_FEATURES)]
    assert len(controls) == N_CONTROLS
    assert (controls["cell_id"] == "UNASSIGNED").all()
    genes = df[~df["feature_name"].isin(XENIUM_CONTROL_FEATURES)].sort_values("transcript_id")
    np.testing.assert_allclose(genes["x"].to_numpy(), tx["x_location"].to_numpy(), atol=1e-4)
    np.testing.assert_allclose(genes["z"].to_numpy(), tx["z_location"].to_numpy(), atol=1e-4)
    assert (genes["feature_name"].astype(str).to_numpy() == tx["feature_name"].to_numpy()).all()


def test_points_to_image_transformation(xenium_sdata) -> None:
    _, _, tx, sdata = xenium_sdata
    t = get_transformation_between_coordinate_systems(sdata, sdata["transcripts"], sdata["morphology_focus"])
    xy_um = tx[["x_location", "y_location"]].to_numpy()
    # through spatialdata itself, as sopa's to_intrinsic does
    pts = transform(sdata["transcripts"], transformation=t, maintain_positioning=True).compute()
    pts = pts[~pts["feature_name"].isin(XENIUM_CONTROL_FEATURES)].sort_values("transcript_id")
    np.testing.assert_allclose(pts[["x", "y"]].to_numpy(), xy_um / UM_PER_PX, rtol=0, atol=1e-3)
    # (10.625, 4.25) um lies at pixel (50, 20) with 0.2125 um/px
    matrix = t.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y"))
    np.testing.assert_allclose(matrix @ np.array([10.625, 4.25, 1.0]), [50.0, 20.0, 1.0], atol=1e-9)


def test_default_reader_call_needs_more(xenium_sdata) -> None:
    """The folder is for the documented call only: the reader's defaults want the cell files."""
    path, *_ = xenium_sdata
    with pytest.raises((FileNotFoundError, KeyError, OSError)):
        spatialdata_io.xenium(path)
