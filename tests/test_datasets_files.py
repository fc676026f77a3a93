"""``halo.datasets.from_files``: a SpatialData from a nuclear-image TIFF and a transcript table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from spatialdata.transformations import get_transformation

import halo
from halo.datasets import from_files

UM_PER_PX = 0.5
ORIGIN_UM = (100.0, 50.0)
SHAPE = (40, 60)  # rows, columns: 30 x 20 um


def _write(tmp_path: Path, frame: pd.DataFrame, *, name: str = "tx.csv", index: bool = False) -> tuple[Path, Path]:
    image = np.arange(SHAPE[0] * SHAPE[1], dtype=np.uint16).reshape(SHAPE)
    tif = tmp_path / "dapi.tif"
    tifffile.imwrite(tif, image)
    table = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(table)
    else:
        frame.to_csv(table, index=index)
    return tif, table


def _transcripts(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "transcript_id": np.arange(n, dtype=np.int64) + 1000,
            "cell_id": rng.integers(-1, 5, n),
            "feature_name": rng.choice(["VIM", "CD3E", "ACTA2", "NegControlProbe_00001", "BLANK_0003"], n),
            "x_location": ORIGIN_UM[0] + rng.uniform(0, SHAPE[1] * UM_PER_PX, n),
            "y_location": ORIGIN_UM[1] + rng.uniform(0, SHAPE[0] * UM_PER_PX, n),
            "z_location": rng.uniform(5, 15, n),
            "qv": rng.uniform(5, 40, n),
        }
    )


def test_transcripts_map_onto_the_image_pixels(tmp_path):
    frame = _transcripts()
    tif, csv = _write(tmp_path, frame)
    sdata = from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM)
    matrix = halo.io.affine_between(sdata, "transcripts", "morphology_focus")
    points = sdata["transcripts"].compute()
    pixels = halo.io.apply_affine(matrix, points[["x", "y"]].to_numpy())
    expected = (frame[["x_location", "y_location"]].to_numpy() - ORIGIN_UM) / UM_PER_PX
    np.testing.assert_allclose(pixels, expected, rtol=0, atol=1e-9)
    # the corner of the image is the origin, one pixel further is um_per_px further
    np.testing.assert_allclose(halo.io.apply_affine(matrix, np.array([ORIGIN_UM, (100.5, 51.0)])), [[0, 0], [1, 2]])
    # the image's own pixels are the "global" system
    to_global = get_transformation(sdata["morphology_focus"], "global").to_affine_matrix(("x", "y"), ("x", "y"))
    np.testing.assert_array_equal(to_global, np.eye(3))


def test_columns_genes_and_rows_are_kept(tmp_path):
    frame = _transcripts()
    tif, csv = _write(tmp_path, frame)
    sdata = from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM, z="z_location", instance_key="cell_id")
    points = sdata["transcripts"]
    assert points.attrs["spatialdata_attrs"] == {"feature_key": "feature_name", "instance_key": "cell_id"}
    df = points.compute()
    assert set(df.columns) == {"x", "y", "z", "feature_name", "cell_id", "transcript_id", "qv"}
    genes = df["feature_name"]
    assert isinstance(genes.dtype, pd.CategoricalDtype)
    assert list(genes.cat.categories) == sorted(frame["feature_name"].unique())  # controls included
    # same rows in the file's order, values exact
    np.testing.assert_array_equal(genes.astype(str).to_numpy(), frame["feature_name"].to_numpy())
    for ours, theirs in (("x", "x_location"), ("y", "y_location"), ("z", "z_location"), ("qv", "qv")):
        np.testing.assert_array_equal(df[ours].to_numpy(), frame[theirs].to_numpy())
    np.testing.assert_array_equal(df["transcript_id"].to_numpy(), frame["transcript_id"].to_numpy())
    np.testing.assert_array_equal(df["cell_id"].to_numpy(), frame["cell_id"].to_numpy())


def test_image_element(tmp_path):
    tif, csv = _write(tmp_path, _transcripts())
    image = tifffile.imread(tif)
    pyramid = from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM)["morphology_focus"]
    scale0 = pyramid["scale0"]["image"]
    assert scale0.dims == ("c", "y", "x") and list(scale0.coords["c"].values) == ["DAPI"]
    assert scale0.dtype == np.uint16
    np.testing.assert_array_equal(scale0.values[0], image)
    assert len(pyramid.children) == 5  # as spatialdata-io's xenium reader: scale factors 2, 2, 2, 2
    single = from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM, multiscale=False, channel="nuclei")
    element = single["morphology_focus"]
    assert element.dims == ("c", "y", "x") and list(element.coords["c"].values) == ["nuclei"]
    np.testing.assert_array_equal(element.values[0], image)


def test_multichannel_tiff_needs_one_name_per_channel(tmp_path):
    _, csv = _write(tmp_path, _transcripts())
    stack = np.stack([np.full(SHAPE, v, np.uint16) for v in (7, 8, 9)])
    tif = tmp_path / "stack.tif"
    tifffile.imwrite(tif, stack)
    names = ["DAPI", "boundary", "interior"]
    sdata = from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM, channel=names, image_key="img")
    image = sdata["img"]["scale0"]["image"]
    assert list(image.coords["c"].values) == names
    np.testing.assert_array_equal(image.values[:, 0, 0], [7, 8, 9])
    with pytest.raises(ValueError, match=r"stack\.tif has 3 channel\(s\).*channel=\["):
        from_files(tif, csv, um_per_px=UM_PER_PX)


def test_parquet_bytes_genes_and_a_written_index(tmp_path):
    frame = _transcripts()
    as_bytes = frame.assign(feature_name=frame["feature_name"].str.encode("utf-8"))
    tif, parquet = _write(tmp_path, as_bytes, name="tx.parquet")
    df = from_files(tif, parquet, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM)["transcripts"].compute()
    np.testing.assert_array_equal(df["feature_name"].astype(str).to_numpy(), frame["feature_name"].to_numpy())
    # a CSV written with pandas' row index (as the Xenium crop's) loses the unnamed column
    _, csv = _write(tmp_path, frame, name="indexed.csv.gz", index=True)
    df = from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM)["transcripts"].compute()
    assert set(df.columns) == {"x", "y", "feature_name", "transcript_id", "cell_id", "z_location", "qv"}
    assert len(df) == len(frame)


def test_min_qv_drops_low_quality_rows(tmp_path):
    frame = _transcripts()
    tif, csv = _write(tmp_path, frame)
    df = from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM, min_qv=20)["transcripts"].compute()
    high = frame[frame["qv"] >= 20]
    assert 0 < len(df) == len(high) < len(frame)
    np.testing.assert_array_equal(df["transcript_id"].to_numpy(), high["transcript_id"].to_numpy())
    assert df.index.equals(pd.RangeIndex(len(df)))


@pytest.mark.parametrize(
    ("option", "value"),
    [("x", "global_x"), ("y", "y_px"), ("gene", "target"), ("z", "depth"), ("instance_key", "cell_ID")],
)
def test_missing_column_names_the_file_the_column_and_the_fix(tmp_path, option, value):
    tif, csv = _write(tmp_path, _transcripts())
    with pytest.raises(ValueError, match=rf"tx\.csv has no column '{value}' \(asked for by {option}=\).*x_location"):
        from_files(tif, csv, um_per_px=UM_PER_PX, **{option: value})


def test_missing_quality_column_when_filtering(tmp_path):
    tif, csv = _write(tmp_path, _transcripts().drop(columns="qv"))
    assert len(from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM)["transcripts"]) == 200
    with pytest.raises(ValueError, match=r"no column 'qv' \(asked for by qv=\)"):
        from_files(tif, csv, um_per_px=UM_PER_PX, min_qv=20)


def test_missing_files_and_bad_pixel_size(tmp_path):
    tif, csv = _write(tmp_path, _transcripts())
    with pytest.raises(FileNotFoundError, match=r"image file .*nope\.tif does not exist"):
        from_files(tmp_path / "nope.tif", csv, um_per_px=UM_PER_PX)
    with pytest.raises(FileNotFoundError, match=r"transcripts file .*nope\.csv does not exist"):
        from_files(tif, tmp_path / "nope.csv", um_per_px=UM_PER_PX)
    for bad in (0.0, -0.2, float("nan")):
        with pytest.raises(ValueError, match="um_per_px must be a positive"):
            from_files(tif, csv, um_per_px=bad)


def test_a_wrong_origin_is_reported(tmp_path, caplog):
    tif, csv = _write(tmp_path, _transcripts())
    with caplog.at_level("WARNING", logger="halo.datasets"):
        from_files(tif, csv, um_per_px=UM_PER_PX, origin_um=ORIGIN_UM)
        assert not caplog.records
        from_files(tif, csv, um_per_px=UM_PER_PX)  # origin (0, 0): every transcript lies far off the image
    assert "100.0% of the transcripts" in caplog.text and "origin_um" in caplog.text


def test_segment_runs_on_files_written_from_a_synthetic_field(tmp_path):
    truth = halo.datasets.synthetic(size_um=(60.0, 50.0), seed=3)
    origin = (1000.0, 500.0)  # synthetic() puts the image corner there
    tif = tmp_path / "morphology.tif"
    tifffile.imwrite(tif, np.asarray(truth["dapi"].values[0]))
    frame = truth["transcripts"].compute()
    frame = frame.rename(columns={"x": "x_location", "y": "y_location"})
    frame["feature_name"] = frame["feature_name"].astype(str)
    frame.to_csv(tmp_path / "transcripts.csv.gz", index=False)
    sdata = from_files(tif, tmp_path / "transcripts.csv.gz", um_per_px=0.2125, origin_um=origin)

    halo.tl.segment(sdata, progress=False)
    halo.tl.segment(truth, progress=False)
    ours, theirs = sdata["halo_table"], truth["halo_table"]
    assert ours.n_obs == theirs.n_obs > 10
    # the same cells and the same transcripts in them as when segmenting the object the files came from
    np.testing.assert_array_equal(
        sdata["transcripts"]["halo_cell_id"].compute().to_numpy(), truth["transcripts"]["halo_cell_id"].compute()
    )
    assigned, kept = halo.io.assigned_counts(sdata, halo.io.read_segmentation(sdata))
    assert 0 < assigned <= kept
    assert int(ours.layers["counts"].sum()) == assigned
