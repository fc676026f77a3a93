"""Segmentation straight from what vendor readers return."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import halo
from halo.io._transcripts import control_mask
from tests.conftest import is_control, transcripts_in_pixels
from tests.vendor_folders import (
    XENIUM_READER_KWARGS,
    read_cosmx,
    write_cosmx_folder,
    write_merscope_folder,
    write_xenium_folder,
)


def test_minimal_xenium_folder_is_segmented_end_to_end(tmp_path):
    spatialdata_io = pytest.importorskip("spatialdata_io")
    truth = halo.datasets.synthetic(size_um=(80.0, 60.0), seed=11)
    frame = truth["transcripts"].compute()
    origin = (1000.0, 500.0)  # synthetic() puts the image corner there; a Xenium folder starts at 0
    transcripts = frame.assign(
        x_location=frame["x"] - origin[0],
        y_location=frame["y"] - origin[1],
        z_location=5.0,
        feature_name=frame["feature_name"].astype(str),
        cell_id="UNASSIGNED",
        overlaps_nucleus=0,
    )[["x_location", "y_location", "z_location", "feature_name", "qv", "cell_id", "overlaps_nucleus"]]
    folder = write_xenium_folder(
        tmp_path / "xenium", dapi=truth["dapi"].data[0].compute(), transcripts=transcripts, n_control_transcripts=20
    )
    sdata = spatialdata_io.xenium(folder, **XENIUM_READER_KWARGS)
    halo.tl.segment(sdata, method="expansion", progress=False)

    reference = halo.datasets.synthetic(size_um=(80.0, 60.0), seed=11)
    halo.tl.segment(reference, method="expansion", progress=False)
    # same image and transcripts, whether built by halo or read from the vendor folder
    assert len(sdata["halo_boundaries"]) == len(reference["halo_boundaries"]) > 20
    params = sdata["halo_table"].uns["halo"]["params"]
    assert params["image_key"] == "morphology_focus" and params["points_key"] == "transcripts"
    assert params["um_per_px"] == pytest.approx(0.2125)
    read_back = sdata["transcripts"].compute()
    assigned = read_back["halo_cell_id"].to_numpy()
    controls = read_back["feature_name"].astype(str).str.startswith(("NegControl", "BLANK", "Unassigned"))
    synthetic_controls = is_control(frame["feature_name"]).sum()
    assert controls.sum() == synthetic_controls + 20 and (assigned[controls.to_numpy()] == 0).all()
    assert sdata["halo_table"].X.sum() == (assigned > 0).sum()
    assert (sdata["halo_table"].X.sum() - reference["halo_table"].X.sum()) / reference["halo_table"].X.sum() < 0.01
    assert not np.any(sdata["halo_table"].var_names.str.startswith("NegControl"))


MERSCOPE_UM_PER_PX = 0.108
COSMX_UM_PER_PX = 0.12028  # halo's CosMx default


def _merscope_transcripts(frame):
    """Synthetic transcripts as Vizgen names them: Blank-* controls, and a real gene that starts with 'NEG'."""
    gene = frame["feature_name"].astype(str)
    controls = is_control(gene)
    gene = gene.where(~controls, "Blank-" + gene.str[-2:])
    gene = gene.where(gene != gene[~controls].value_counts().index[0], "NEGR1")  # the most common gene
    return pd.DataFrame({"global_x": frame["x"], "global_y": frame["y"], "gene": gene})


def test_minimal_merscope_folder_is_segmented_end_to_end(tmp_path):
    spatialdata_io = pytest.importorskip("spatialdata_io")
    truth = halo.datasets.synthetic(size_um=(80.0, 60.0), seed=11, um_per_px=MERSCOPE_UM_PER_PX)
    frame = truth["transcripts"].compute()
    folder = write_merscope_folder(
        tmp_path / "20240101_slide1" / "region_0",
        dapi=truth["dapi"].data[0].compute(),
        transcripts=_merscope_transcripts(frame),
        um_per_px=MERSCOPE_UM_PER_PX,
        origin_um=(1000.0, 500.0),  # where synthetic() puts the image corner
    )
    sdata = spatialdata_io.merscope(folder)
    channels = sdata.images["20240101_slide1_region_0_z3"]["scale0"]["image"].coords["c"].values
    assert sorted(channels) == ["Cellbound1", "DAPI", "PolyT"]
    halo.tl.segment(sdata, progress=False, min_qv=None)

    reference = halo.datasets.synthetic(size_um=(80.0, 60.0), seed=11, um_per_px=MERSCOPE_UM_PER_PX)
    halo.tl.segment(reference, progress=False, min_qv=None)
    params = sdata["halo_table"].uns["halo"]["params"]
    assert params["image_key"] == "20240101_slide1_region_0_z3" and params["channel"] == "DAPI"
    assert params["points_key"] == "20240101_slide1_region_0_transcripts"
    assert params["um_per_px"] == pytest.approx(MERSCOPE_UM_PER_PX)
    assert len(sdata["halo_boundaries"]) == len(reference["halo_boundaries"]) > 20
    table = sdata["halo_table"]
    # Vizgen's blanks are dropped, a real gene named NEG... is kept (the generic pattern would drop it)
    assert "NEGR1" in table.var_names and not table.var_names.str.startswith("Blank").any()
    points = sdata["20240101_slide1_region_0_transcripts"].compute()
    blanks = points["gene"].astype(str).str.startswith("Blank-").to_numpy()
    assert blanks.sum() > 10 and (points["halo_cell_id"].to_numpy()[blanks] == 0).all()
    assert table.X.sum() == (points["halo_cell_id"] > 0).sum()
    assert table.X.sum() == reference["halo_table"].X.sum()


def _cosmx_fov(seed):
    truth = halo.datasets.synthetic(size_um=(60.0, 50.0), seed=seed, um_per_px=COSMX_UM_PER_PX)
    frame = transcripts_in_pixels(truth)
    gene = frame["feature_name"].astype(str)
    gene = gene.where(~is_control(gene), "NegPrb" + gene.str[-1])
    transcripts = pd.DataFrame(
        {"x_local_px": frame["px"], "y_local_px": frame["py"], "target": gene, "cell_ID": frame["true_cell_id"]}
    )
    spec = {"dapi": truth["dapi"].data[0].compute(), "labels": truth["true_cells"].data.compute()}
    return truth, {**spec, "transcripts": transcripts}


def test_minimal_cosmx_folder_is_segmented_per_fov(tmp_path):
    pytest.importorskip("spatialdata_io")
    from spatialdata.transformations import get_transformation

    fovs = {1: _cosmx_fov(21), 2: _cosmx_fov(22)}
    offsets = {1: (0.0, 0.0), 2: (700.0, 40.0)}
    folder = write_cosmx_folder(
        tmp_path / "cosmx", fovs={f: {**spec, "offset_px": offsets[f]} for f, (_, spec) in fovs.items()}
    )
    sdata = read_cosmx(folder)
    with pytest.raises(ValueError, match="segment_fovs"):
        halo.tl.segment(sdata, progress=False)
    written = halo.tl.segment_fovs(sdata, progress=False)
    assert [names.key_added for names in written] == ["halo_1", "halo_2"]
    assert [names.points for names in written] == ["1_points", "2_points"]
    assert all(names.table in sdata.tables for names in written)

    for fov, (truth, _) in fovs.items():
        key = f"halo_{fov}"
        reference = truth
        halo.tl.segment(reference, progress=False)
        params = sdata[f"{key}_table"].uns["halo"]["params"]
        assert (params["image_key"], params["points_key"]) == (f"{fov}_image", f"{fov}_points")
        assert params["channel"] == "b"  # the blue channel of the RGB composite (spatialdata names it "b")
        assert params["um_per_px"] == pytest.approx(COSMX_UM_PER_PX)  # transcripts are in pixels: vendor default
        # same cells as on the 16-bit image directly (the composite is 8-bit)
        n, n_ref = len(sdata[f"{key}_boundaries"]), len(reference["halo_boundaries"])
        assert abs(n - n_ref) <= max(1, 0.05 * n_ref) and n > 20
        # the FOV's own system is its pixels; "global" is shifted by the FOV's offset
        transformations = get_transformation(sdata[f"{key}_boundaries"], get_all=True)
        assert set(transformations) >= {str(fov), "global"}
        matrix = transformations["global"].to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y"))
        np.testing.assert_allclose(matrix[:2, 2], offsets[fov], atol=1e-6)
        points = sdata[f"{fov}_points"].compute()
        controls = points["target"].astype(str).str.startswith("NegPrb").to_numpy()
        assert controls.sum() > 10 and (points[f"{key}_cell_id"].to_numpy()[controls] == 0).all()
        assert not sdata[f"{key}_table"].var_names.str.startswith("NegPrb").any()
        assert sdata[f"{key}_table"].X.sum() == (points[f"{key}_cell_id"] > 0).sum()

    # halo.pl draws a FOV's result over the composite's nuclear channel
    import matplotlib

    matplotlib.use("Agg")
    ax = halo.pl.segmentation(sdata, key_added="halo_2", color="cell")
    labels = [c.get_label() for c in ax.collections]
    assert len(ax.collections[labels.index("cells")].get_paths()) == len(sdata["halo_2_boundaries"])
    assert ax.images[0].get_array().shape == sdata["2_image"].shape[1:]
    matplotlib.pyplot.close("all")

    # one FOV on request; its points follow from the image
    halo.tl.segment(sdata, image_key="2_image", key_added="only2", progress=False)
    assert sdata["only2_table"].uns["halo"]["params"]["points_key"] == "2_points"
    assert len(sdata["only2_boundaries"]) == len(sdata["halo_2_boundaries"])


def test_merscope_z_planes_default_to_the_middle_one(small_sdata):
    from spatialdata import SpatialData

    image = small_sdata["dapi"]
    sdata = SpatialData(
        images={f"slide_region_z{z}": image.copy() for z in (0, 1, 2, 3, 4, 5, 6)},
        points={"slide_region_transcripts": small_sdata["transcripts"]},
        attrs={"spatialdata_io_reader": "merscope"},
    )
    chosen = halo.io.vendor_options(
        sdata, image_key=None, points_key=None, channel=None, control_pattern=None, um_per_px=None
    )
    assert chosen.image_key == "slide_region_z3" and chosen.points_key == "slide_region_transcripts"
    assert chosen.channel == "DAPI" and chosen.control_pattern is None  # None (keep all) is an explicit choice
    # objects from no known reader are left alone
    assert halo.io.vendor_options(
        small_sdata, image_key=None, points_key=None, channel=None, control_pattern="x", um_per_px=None
    ) == (None, None, None, "x", None)


def test_xenium_defaults_pick_morphology_focus_among_dapi_images(small_sdata, tmp_path):
    from spatialdata import SpatialData, read_zarr

    image = small_sdata["dapi"]
    # spatialdata_io.xenium's default call returns both images, each with a DAPI channel
    sdata = SpatialData(
        images={"morphology_mip": image.copy(), "morphology_focus": image.copy()},
        points={"transcripts": small_sdata["transcripts"]},
        attrs={"spatialdata_io_reader": "xenium"},
    )
    with pytest.raises(ValueError, match="several"):
        halo.io.get_nuclear_image(sdata)  # the generic search cannot choose
    sdata.write(tmp_path / "x.zarr")
    sdata = read_zarr(tmp_path / "x.zarr")  # the reader's mark survives the round trip
    halo.tl.segment(sdata, progress=False)
    params = sdata["halo_table"].uns["halo"]["params"]
    assert params["image_key"] == "morphology_focus"
    names = ["NegControlProbe_1", "NegControlCodeword_2", "BLANK_0001", "UnassignedCodeword_3", "NEGR1", "EPCAM"]
    assert control_mask(names, params["control_pattern"]).tolist() == [True, True, True, True, False, False]


def test_elements_aligned_differently_in_two_systems_are_refused(small_sdata):
    from spatialdata.transformations import Identity, Scale, get_transformation, set_transformation

    sdata = small_sdata
    to_pixels = get_transformation(sdata["transcripts"], "global")
    set_transformation(sdata["dapi"], {"global": Identity(), "fov1": Identity()}, set_all=True)
    set_transformation(sdata["transcripts"], {"global": to_pixels, "fov1": to_pixels}, set_all=True)
    expected = to_pixels.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y"))
    np.testing.assert_allclose(halo.io.affine_between(sdata, "transcripts", "dapi"), expected)  # two paths, agreeing
    set_transformation(sdata["transcripts"], Scale([2.0, 2.0], axes=("x", "y")), to_coordinate_system="fov1")
    with pytest.raises(ValueError, match="aligned differently"):
        halo.io.affine_between(sdata, "transcripts", "dapi")
