"""Bad or unusual input: a clear error before any work or write, or a documented handling (docs/bad_input.md)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import shapely
import spatialdata
from packaging.version import Version
from spatialdata import read_zarr
from spatialdata.models import Image2DModel, Image3DModel, Labels2DModel, PointsModel, ShapesModel, TableModel
from spatialdata.transformations import Identity, Scale, get_transformation, set_transformation

import halo

ERRORS = (ValueError, KeyError, TypeError, PermissionError, FileNotFoundError)


@pytest.fixture
def tiny():
    """About 35 cells; a segmentation takes well under a second."""
    return halo.datasets.synthetic(size_um=(60.0, 50.0), seed=3)


@pytest.fixture(scope="module")
def clean():
    """``tiny`` segmented with the defaults, read only."""
    sdata = halo.datasets.synthetic(size_um=(60.0, 50.0), seed=3)
    halo.tl.segment(sdata, method="expansion", progress=False)
    return sdata


def _elements(sdata):
    return sorted(name for _, name, _ in sdata.gen_elements())


def _refused(sdata, match, **kwargs):
    """``segment`` raises a clear error and leaves every element, and the transcripts' columns, as they were."""
    before, columns = _elements(sdata), list(sdata.points[next(iter(sdata.points))].columns) if sdata.points else []
    kwargs.setdefault("progress", False)
    kwargs.setdefault("method", "expansion")
    with pytest.raises(ERRORS, match=match):
        halo.tl.segment(sdata, **kwargs)
    assert _elements(sdata) == before
    if sdata.points:
        assert list(sdata.points[next(iter(sdata.points))].columns) == columns


def _transcripts(sdata):
    """A private pandas copy: dask can hand back the very frame it holds, shared by identical elements."""
    return sdata["transcripts"].compute().copy(deep=True)


def _with_points(sdata, frame, **parse):
    parse.setdefault("coordinates", {"x": "x", "y": "y"})
    parse.setdefault("feature_key", "feature_name")
    transform = get_transformation(sdata["transcripts"], "global")
    sdata["transcripts"] = PointsModel.parse(frame, transformations={"global": transform}, **parse)


def _with_image(sdata, data, **parse):
    parse.setdefault("dims", ("c", "y", "x"))
    sdata["dapi"] = Image2DModel.parse(data, transformations={"global": Identity()}, **parse)


def _assignment(sdata):
    return sdata["transcripts"]["halo_cell_id"].compute().to_numpy()


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"expansion_um": float("nan")}, "expansion_um must be a finite number", id="expansion-nan"),
        pytest.param({"expansion_um": float("inf")}, "expansion_um must be a finite number", id="expansion-inf"),
        pytest.param({"expansion_um": "5"}, "expansion_um must be a number, got '5'", id="expansion-str"),
        pytest.param({"tile_um": None}, "tile_um must be a number, got None", id="tile-none"),
        pytest.param({"tile_um": float("inf")}, "tile_um must be a finite number", id="tile-inf"),
        pytest.param({"overlap_um": float("nan")}, "overlap_um must be a finite number", id="overlap-nan"),
        pytest.param({"overlap_um": True}, "overlap_um must be a number or None, got True", id="overlap-bool"),
        pytest.param({"min_qv": float("nan")}, "min_qv must be a finite number", id="min-qv-nan"),
        pytest.param({"um_per_px": float("inf")}, "um_per_px must be a finite number", id="um-per-px-inf"),
        pytest.param({"um_per_px": 50.0}, "only 10 pixels.*um_per_px=", id="um-per-px-absurd"),
        pytest.param({"channel": True}, "channel must be a channel name", id="channel-bool"),
        pytest.param({"channel": 0.5}, "channel must be a channel name", id="channel-float"),
        pytest.param({"image_key": 0}, "image_key must be an element name", id="image-key-int"),
        pytest.param({"control_pattern": "(["}, "not a valid regular expression", id="control-pattern-invalid"),
        pytest.param({"control_pattern": 3}, "control_pattern must be a regular expression", id="control-pattern-int"),
        pytest.param({"nucleus_options": [1, 2]}, "nucleus_options must be", id="nucleus-options-list"),
        pytest.param({"nucleus_options": {"sigma_um": float("nan")}}, "sigma_um must be >= 0", id="nucleus-option-nan"),
        pytest.param(
            {"nucleus_options": {"max_area_um2": float("inf")}},
            "NucleusOptions.max_area_um2 must be a finite number",
            id="nucleus-option-inf",
        ),
        pytest.param({"progress": "yes"}, "progress must be True or False", id="progress-str"),
        pytest.param({"key_added": ""}, "not a valid element name", id="key-added-empty"),
        pytest.param({"scratch_dir": "/no/such/dir"}, "scratch_dir=.* is not an existing folder", id="scratch-missing"),
        pytest.param({"client": "cluster"}, "client must be a dask.distributed Client", id="client-str"),
        pytest.param({"key_added": "bad name"}, "not a valid element name", id="key-added-space"),
        pytest.param({"method": "cellpose"}, "Unknown method 'cellpose'.*register_method", id="method-unknown"),
        pytest.param({"nuclei_source": "dl"}, "Unknown nuclei_source 'dl'", id="nuclei-source-unknown"),
        pytest.param({"expansion_um": -1.0}, "expansion_um must be >= 0", id="expansion-negative"),
        pytest.param({"tile_um": 0.0}, "tile_um must be positive", id="tile-zero"),
        pytest.param({"overlap_um": 10.0}, "less than twice the largest cell diameter", id="overlap-small"),
        pytest.param({"tile_um": 60.0, "overlap_um": 70.0}, "must be smaller than tile_um", id="overlap-over-tile"),
        pytest.param({"um_per_px": -0.2}, "um_per_px must be positive", id="um-per-px-negative"),
        pytest.param({"weights": "/no/such.safetensors"}, "weights=.* is not a file", id="weights-missing"),
        pytest.param({"image_key": "nope"}, "No image element 'nope'", id="image-key-missing"),
        pytest.param({"points_key": "nope"}, "No points element 'nope'", id="points-key-missing"),
        pytest.param({"channel": "PolyT"}, "has no channel 'PolyT'", id="channel-missing"),
        pytest.param({"channel": 3}, "out of range", id="channel-out-of-range"),
        pytest.param({"nuclei_key": "nope"}, "neither a labels nor a shapes element", id="nuclei-key-missing"),
        pytest.param({"nucleus_options": {"size": 3}}, "Unknown nucleus options", id="nucleus-option-unknown"),
        pytest.param({"nucleus_options": {"threshold": 2.0}}, "must lie in", id="nucleus-threshold"),
        pytest.param({"nucleus_options": {"local_fraction": 1.0}}, "local_fraction must lie in", id="local-fraction"),
        pytest.param({"control_pattern": ".*"}, "Every gene", id="control-pattern-everything"),
    ],
)
def test_bad_argument_is_refused_before_any_work(tiny, kwargs, match):
    _refused(tiny, match, **kwargs)


def test_not_a_spatialdata_is_refused():
    import anndata as ad

    with pytest.raises(TypeError, match="expects a spatialdata.SpatialData, got AnnData.*read_zarr"):
        halo.tl.segment(ad.AnnData(np.zeros((2, 2))))


# ---------------------------------------------------------------- images


def test_no_image_element_is_refused(tiny):
    del tiny["dapi"]
    _refused(tiny, r"Cannot choose the nuclear image \(no image with a DAPI or single channel; images: \[\]\)")


def test_no_points_element_is_refused(tiny):
    del tiny["transcripts"]
    _refused(tiny, r"Cannot choose the transcripts element \(there are none\)")


def test_3d_image_is_refused_with_the_fix(tiny):
    data = tiny["dapi"].data.compute()
    tiny["dapi"] = Image3DModel.parse(np.stack([data] * 3, axis=1), dims=("c", "z", "y", "x"), c_coords=["DAPI"])
    _refused(tiny, r"Image 'dapi' has dims \('c', 'z', 'y', 'x'\).*Project z first")


def test_rgb_image_asks_for_the_channel_and_segments_with_it(tiny):
    data = tiny["dapi"].data.compute()
    _with_image(tiny, np.moveaxis(np.concatenate([data * 0, data * 0, data]), 0, -1), dims=("y", "x", "c"))
    _refused(tiny, r"Cannot choose the nuclear image")
    _refused(tiny, r"Image 'dapi' has channels \[0, 1, 2\] and none is named DAPI.*channel=", image_key="dapi")
    halo.tl.segment(tiny, method="expansion", image_key="dapi", channel=2, progress=False)
    assert len(tiny["halo_boundaries"]) > 15
    assert tiny["halo_table"].uns["halo"]["params"]["channel"] == 2


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
def test_8_bit_16_bit_and_float_images_segment_alike(clean, tiny, dtype):
    reference, sdata = clean, tiny
    data = sdata["dapi"].data.compute().astype(np.float64)
    if dtype == "uint8":
        data = np.round(data / data.max() * 255)
    elif dtype.startswith("float"):
        data = data / 65535.0
    _with_image(sdata, data.astype(dtype), c_coords=["DAPI"])
    halo.tl.segment(sdata, method="expansion", progress=False)
    n, n_ref = len(sdata["halo_boundaries"]), len(reference["halo_boundaries"])
    assert abs(n - n_ref) <= 0.2 * n_ref
    assert sdata["halo_table"].n_obs == n and shapely.is_valid(sdata["halo_boundaries"].geometry).all()


def test_float_image_with_nan_pixels_treats_them_as_background(tiny):
    data = tiny["dapi"].data.compute().astype(np.float32)
    data[:, :40, :] = np.nan
    _with_image(tiny, data, c_coords=["DAPI"])
    halo.tl.segment(tiny, method="expansion", progress=False)
    cells = tiny["halo_boundaries"]
    assert len(cells) > 10
    inside_nan_rows = shapely.points(shapely.get_coordinates(cells.geometry.centroid))
    assert (shapely.get_y(inside_nan_rows) > 30).all()  # no nucleus is found in the NaN band (rows < 40)


def test_image_without_finite_pixels_is_refused(tiny):
    data = np.full(tiny["dapi"].shape, np.nan, dtype=np.float32)
    _with_image(tiny, data, c_coords=["DAPI"])
    _refused(tiny, r"Image 'dapi' channel 'DAPI': The nuclear image has no finite pixel")


def test_zero_size_image_is_refused(tiny):
    tiny["dapi"] = tiny["dapi"].isel(y=slice(0, 0))
    _refused(tiny, r"Image 'dapi' has shape \(0, \d+\).*no pixels")


def test_multiscale_image_gives_the_same_result_as_its_full_resolution(clean, tiny):
    single = clean
    _with_image(tiny, tiny["dapi"].data.compute(), c_coords=["DAPI"], scale_factors=[2, 2])
    halo.tl.segment(tiny, method="expansion", progress=False)
    assert shapely.equals(
        single["halo_boundaries"].geometry.to_numpy(), tiny["halo_boundaries"].geometry.to_numpy()
    ).all()
    np.testing.assert_array_equal(_assignment(single), _assignment(tiny))


def test_image_smaller_than_one_tile_is_one_tile():
    sdata = halo.datasets.synthetic(size_um=(25.0, 20.0), seed=4)
    halo.tl.segment(sdata, method="expansion", tile_um=500.0, progress=False)
    assert sdata["halo_table"].uns["halo"]["params"]["n_tiles"] == 1
    assert len(sdata["halo_boundaries"]) >= 2


# ---------------------------------------------------------------- transcripts


def test_points_without_feature_key_are_refused(tiny):
    _with_points(tiny, _transcripts(tiny), feature_key=None)
    _refused(tiny, r"no feature_key naming its gene column.*feature_key=")


def test_empty_points_segment_nuclei_with_zero_counts(tiny):
    _with_points(tiny, _transcripts(tiny).iloc[:0])
    with pytest.warns(halo.io.SegmentationWarning, match="no transcript left to count"):
        halo.tl.segment(tiny, method="expansion", progress=False)
    assert len(tiny["halo_boundaries"]) > 15
    assert tiny["halo_table"].X.sum() == 0


def test_transcripts_outside_the_image_or_with_nan_coordinates_are_unassigned(clean, tiny):
    frame = _transcripts(tiny)
    outside, nan = np.arange(0, 200), np.arange(200, 300)
    frame.loc[outside, "x"] += 1e4
    frame.loc[nan, "y"] = np.nan
    _with_points(tiny, frame)
    with pytest.warns(
        halo.io.SegmentationWarning,
        match=r"% of the transcripts of 'transcripts' \(\d+ of \d+\) fall outside image 'dapi'",
    ):
        halo.tl.segment(tiny, method="expansion", progress=False)
    assignment, expected = _assignment(tiny), _assignment(clean)
    assert (assignment[np.r_[outside, nan]] == 0).all()
    rest = np.setdiff1d(np.arange(assignment.size), np.r_[outside, nan])
    np.testing.assert_array_equal(assignment[rest], expected[rest])


def test_no_transcript_on_the_image_is_refused(tiny):
    frame = _transcripts(tiny)
    frame["x"] += 1e4  # e.g. a transformation that maps to the wrong place
    _with_points(tiny, frame)
    _refused(tiny, r"None of the \d+ transcripts of points 'transcripts' falls on image 'dapi'.*transformations")


def test_3d_points_use_x_and_y_and_ignore_z(clean, tiny):
    flat = clean
    frame = _transcripts(tiny)
    frame["z"] = np.random.default_rng(0).uniform(-5, 15, len(frame))
    _with_points(tiny, frame, coordinates={"x": "x", "y": "y", "z": "z"})
    halo.tl.segment(tiny, method="expansion", progress=False)
    np.testing.assert_array_equal(_assignment(tiny), _assignment(flat))
    assert (tiny["halo_table"].X != flat["halo_table"].X).nnz == 0


def test_missing_gene_names_and_qv_are_dropped_like_controls(tiny):
    frame = _transcripts(tiny)
    names = frame["feature_name"].astype(object)
    names.iloc[:50] = None
    frame["feature_name"] = pd.Categorical(names)
    frame.loc[50:99, "qv"] = np.nan
    _with_points(tiny, frame)
    halo.tl.segment(tiny, method="expansion", progress=False)
    assert (_assignment(tiny)[:100] == 0).all()


def test_every_gene_a_control_probe_is_refused(tiny):
    frame = _transcripts(tiny)
    frame["feature_name"] = pd.Categorical(np.where(np.arange(len(frame)) % 2, "BLANK_0001", "NegControlProbe_1"))
    _with_points(tiny, frame)
    _refused(tiny, r"Every gene of points element 'transcripts' matches the control pattern.*control_pattern=")


def test_points_without_any_transformation_are_refused(tiny):
    frame = _transcripts(tiny)
    tiny["transcripts"] = PointsModel.parse(
        frame, coordinates={"x": "x", "y": "y"}, feature_key="feature_name", transformations={"other": Identity()}
    )
    _refused(tiny, r"Elements 'transcripts' and 'dapi' share no coordinate system.*set_transformation")


# ---------------------------------------------------------------- nucleus segmentations given by the user


def test_float_nucleus_labels_are_refused(tiny):
    floats = tiny["true_nuclei"].astype(np.float32)
    if Version(spatialdata.__version__) >= Version("0.8"):
        # spatialdata 0.8 refuses float labels itself, when they are added and when a store holding them is read:
        # they cannot reach halo there. On 0.7 they can, and halo refuses them.
        with pytest.raises(ValueError, match="Labels must have an integer dtype, found float32"):
            tiny["float_nuclei"] = floats
        return
    tiny["float_nuclei"] = floats
    _refused(
        tiny, r"Labels 'float_nuclei' have dtype float32; nucleus labels must be integers", nuclei_key="float_nuclei"
    )


def test_int64_nucleus_labels_work(tiny):
    from halo._geometry import block_sample
    from halo._tiling import bin_factor

    data = tiny["true_nuclei"].data.compute().astype(np.int64) * 1000  # large, sparse ids
    tiny["big_ids"] = Labels2DModel.parse(data, dims=("y", "x"))
    halo.tl.segment(tiny, method="expansion", nuclei_key="big_ids", progress=False)
    # one cell per given nucleus that the working grid sees; only a sliver smaller than a working-grid pixel (a
    # nucleus cut by the field's edge) may cover none of the pixels it samples
    factor = bin_factor(0.2125)
    seen = np.unique(block_sample(data, factor))
    assert len(tiny["halo_boundaries"]) == np.count_nonzero(seen)
    ids, area = np.unique(data[data > 0], return_counts=True)
    assert (area[~np.isin(ids, seen)] < factor**2).all()


def test_nucleus_labels_off_the_image_grid_are_refused(tiny):
    data = tiny["true_nuclei"].data.compute()
    tiny["scaled"] = Labels2DModel.parse(
        data, dims=("y", "x"), transformations={"global": Scale([2, 2], axes=("x", "y"))}
    )
    _refused(tiny, r"Labels 'scaled' are not on the pixel grid of image 'dapi'; resample them", nuclei_key="scaled")
    tiny["cropped"] = Labels2DModel.parse(data[:-5], dims=("y", "x"))
    _refused(tiny, r"Labels 'cropped' have shape .* the image 'dapi' .*must match", nuclei_key="cropped")


def test_nucleus_circles_are_refused(tiny):
    import geopandas as gpd

    circles = gpd.GeoDataFrame({"radius": [5.0, 6.0]}, geometry=shapely.points([[50, 50], [100, 80]]))
    tiny["circles"] = ShapesModel.parse(circles)
    _refused(tiny, r"nucleus shapes must be Polygons.*rasterise them", nuclei_key="circles")


# ---------------------------------------------------------------- what the user already has


def _user_table(sdata, region="true_cell_boundaries"):
    import anndata as ad

    ids = sdata[region].index.to_numpy()
    table = ad.AnnData(np.arange(ids.size * 2, dtype=np.float32).reshape(-1, 2))
    table.obs["cell_id"] = ids
    table.obs["region"] = pd.Categorical([region] * ids.size)
    return TableModel.parse(table, region=region, region_key="region", instance_key="cell_id")


def test_user_table_linked_to_other_shapes_is_left_untouched(tiny, tmp_path):
    tiny["table"] = _user_table(tiny)
    tiny.write(tmp_path / "store.zarr")
    sdata = read_zarr(tmp_path / "store.zarr")
    before = sdata["table"].copy()
    halo.tl.segment(sdata, method="expansion", progress=False)
    halo.tl.segment(sdata, method="expansion", progress=False, expansion_um=2.0)  # and a replacing re-run
    for current in (sdata, read_zarr(tmp_path / "store.zarr")):
        table = current["table"]
        np.testing.assert_array_equal(table.X, before.X)
        pd.testing.assert_frame_equal(table.obs, before.obs)
        assert table.uns["spatialdata_attrs"] == before.uns["spatialdata_attrs"]
        assert current["true_cell_boundaries"].equals(tiny["true_cell_boundaries"])


def test_key_added_naming_the_users_shapes_is_refused(tiny):
    # e.g. key_added="cell" on Xenium data, whose cell_boundaries halo would otherwise overwrite
    tiny["cell_boundaries"] = tiny["true_cell_boundaries"]
    _refused(tiny, r"Shapes 'cell_boundaries' exist and were not written by halo.*key_added=", key_added="cell")


def test_key_added_naming_a_users_table_is_refused(tiny):
    tiny["halo_table"] = _user_table(tiny)
    _refused(tiny, r"Table 'halo_table' exists and was not written by halo.*key_added=")


def test_points_column_of_the_user_is_refused(tiny):
    frame = _transcripts(tiny)
    frame["halo_cell_id"] = 7
    _with_points(tiny, frame)
    _refused(tiny, r"Points 'transcripts' already have a column 'halo_cell_id' that halo did not write")


def test_results_another_table_annotates_are_not_replaced(tiny):
    halo.tl.segment(tiny, method="expansion", progress=False)
    tiny["my_analysis"] = _user_table(tiny, region="halo_boundaries")
    _refused(tiny, r"Table 'my_analysis' annotates \['halo_boundaries'\].*break that table's cell ids")
    halo.tl.segment(tiny, method="expansion", progress=False, key_added="second")  # another key_added is fine
    assert "second_boundaries" in tiny


def test_read_only_store_is_refused_before_any_work(tiny, tmp_path):
    path = tmp_path / "store.zarr"
    tiny.write(path)
    sdata = read_zarr(path)
    os.chmod(path, 0o555)
    immutable = False
    try:
        if os.access(path, os.W_OK):  # root ignores permission bits: make the folder immutable instead
            immutable = (
                shutil.which("chattr") is not None and subprocess.run(["chattr", "+i", str(path)]).returncode == 0
            )
            if not immutable:
                pytest.skip("cannot make a read-only folder here (root without chattr)")
        _refused(sdata, r"The zarr store .* is not writable.*Copy the store")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        os.chmod(path, 0o755)
    assert "halo_boundaries" not in read_zarr(path)


# ---------------------------------------------------------------- choosing the inputs


def test_ambiguous_images_and_points_list_the_candidates(tiny):
    tiny["dapi2"] = Image2DModel.parse(
        tiny["dapi"].data, dims=("c", "y", "x"), c_coords=["DAPI"], transformations={"global": Identity()}
    )
    with pytest.raises(ValueError, match=r"several: \['dapi', 'dapi2'\].*image_key="):
        halo.tl.segment(tiny, method="expansion", progress=False)
    frame = tiny["transcripts"].compute()
    tiny["more"] = PointsModel.parse(frame, coordinates={"x": "x", "y": "y"}, feature_key="feature_name")
    with pytest.raises(ValueError, match=r"candidates: \['transcripts', 'more'\].*points_key="):
        halo.tl.segment(tiny, method="expansion", image_key="dapi", progress=False)


def test_multichannel_image_without_dapi_asks_for_a_channel(tiny):
    data = np.concatenate([tiny["dapi"].data.compute()] * 2)
    tiny["dapi"] = Image2DModel.parse(
        data, dims=("c", "y", "x"), c_coords=["PolyT", "Cellbound1"], transformations={"global": Identity()}
    )
    with pytest.raises(ValueError, match="none is named DAPI.*channel="):
        halo.tl.segment(tiny, method="expansion", image_key="dapi", progress=False)
    halo.tl.segment(tiny, method="expansion", image_key="dapi", channel="PolyT", progress=False)
    assert len(tiny["halo_boundaries"]) > 20


def test_key_clash_with_another_element_type(tiny):
    import anndata as ad

    tiny["clash_boundaries"] = TableModel.parse(ad.AnnData(np.zeros((2, 1), dtype=np.float32)))
    with pytest.raises(ValueError, match="element of type tables has that name.*key_added"):
        halo.tl.segment(tiny, method="expansion", key_added="clash", progress=False)
    assert "clash_nuclei" not in tiny


def test_points_and_image_without_shared_coordinate_system(tiny):
    set_transformation(tiny["transcripts"], Identity(), "microns", write_to_sdata=None)
    from spatialdata.transformations import remove_transformation

    remove_transformation(tiny["transcripts"], "global")
    with pytest.raises(ValueError, match="share no coordinate system"):
        halo.tl.segment(tiny, method="expansion", progress=False)


def test_image_without_nuclei_is_an_error_that_writes_nothing(tiny):
    blank = np.full((1, *tiny["dapi"].shape[1:]), 120, dtype=np.uint16)
    tiny["dapi"] = Image2DModel.parse(blank, dims=("c", "y", "x"), c_coords=["DAPI"])
    before = _elements(tiny)
    with pytest.raises(ValueError, match="No nuclei found in image 'dapi'.*threshold"):
        halo.tl.segment(tiny, method="expansion", progress=False)
    assert _elements(tiny) == before


# ---------------------------------------------------------------- sanity warnings on runs that succeed


def _sanity_warnings(sdata, **kwargs) -> list[str]:
    """The SegmentationWarnings of a run that succeeds."""
    import warnings

    kwargs.setdefault("method", "expansion")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        halo.tl.segment(sdata, progress=False, **kwargs)
    return [str(w.message) for w in caught if issubclass(w.category, halo.io.SegmentationWarning)]


@pytest.mark.parametrize("method", ["expansion", "halo"])
def test_a_plausible_run_warns_of_nothing(method):
    assert _sanity_warnings(halo.datasets.synthetic(seed=0), method=method) == []


def test_a_flat_nuclear_image_is_named_with_its_percentiles(tiny):
    rng = np.random.default_rng(0)
    _with_image(tiny, rng.integers(78, 85, (1, *tiny["dapi"].shape[1:]), dtype=np.uint8), c_coords=["DAPI"])
    found = " ".join(_sanity_warnings(tiny, nucleus_options={"threshold": 0.5}))
    assert "Image 'dapi' channel 'DAPI' is nearly flat: its 1st and 99.9th percentiles are 78 and 84" in found


def test_a_saturated_nuclear_image_is_named_with_its_share(tiny):
    data = tiny["dapi"].data.compute().copy()
    data[:, : data.shape[1] // 4] = np.iinfo(np.uint16).max  # a quarter of the rows at the maximum
    _with_image(tiny, data, c_coords=["DAPI"])
    assert any("is saturated: 25% of its pixels" in w for w in _sanity_warnings(tiny))


def test_few_cells_and_most_transcripts_unassigned_are_named_with_the_numbers():
    sdata = halo.datasets.synthetic(seed=0)
    data = sdata["dapi"].data.compute().copy()
    data[:, :, data.shape[2] // 10 :] = np.percentile(data, 5)  # nuclei in a tenth of the field, transcripts everywhere
    _with_image(sdata, data, c_coords=["DAPI"])
    found = _sanity_warnings(sdata)
    n_cells = len(sdata["halo_boundaries"])
    assert any(w.startswith(f"Found {n_cells} cells, where the transcripts cover about") for w in found), found
    assigned = sdata["halo_table"].uns["halo"]["summary"]
    share = f"{assigned['n_assigned'] / assigned['n_kept']:.1%}"
    assert any(w.startswith(f"Only {share} of the {assigned['n_kept']} kept transcripts lie in a cell") for w in found)


def test_a_wrong_pixel_size_shows_in_the_nucleus_areas(tiny):
    found = _sanity_warnings(tiny, um_per_px=0.1)  # the image has 0.2125 um pixels
    assert any("far from the 10-200 um^2 of real nuclei: the pixel size is likely wrong" in w for w in found), found


def test_points_in_pixels_with_an_identity_transformation_on_a_vendor_sized_image():
    sdata = halo.datasets.synthetic(size_um=(440.0, 30.0), seed=1)  # 2071 px wide
    frame = sdata["transcripts"].compute()
    matrix = halo.io.affine_between(sdata, "transcripts", "dapi")
    frame[["x", "y"]] = halo.io.apply_affine(matrix, frame[["x", "y"]].to_numpy())  # now in image pixels
    sdata["transcripts"] = PointsModel.parse(
        frame, coordinates={"x": "x", "y": "y"}, feature_key="feature_name", transformations={"global": Identity()}
    )
    found = _sanity_warnings(sdata)
    assert any("with an identity transformation, so halo reads them as micrometres" in w for w in found), found
    assert not any("identity" in w for w in _sanity_warnings(sdata, um_per_px=0.2125, key_added="given"))


def test_segment_logs_one_summary_line(tiny, caplog):
    with caplog.at_level(logging.INFO, logger="halo"):
        halo.tl.segment(tiny, method="expansion", progress=False)
    table = tiny["halo_table"]
    summary = table.uns["halo"]["summary"]
    share = 100 * summary["n_assigned"] / summary["n_kept"]
    line = (
        f"segmented {table.n_obs} cells under key_added='halo': {share:.1f}% of {summary['n_kept']} kept transcripts "
        f"assigned, median cell area {np.median(table.obs['area_um2']):.0f} um2"
    )
    assert [r for r in caplog.records if r.getMessage().startswith(line)], caplog.text
