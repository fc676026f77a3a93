"""Segmentation straight from what vendor readers return."""

from __future__ import annotations

import numpy as np
import pytest

import halo
from tests.vendor_folders import XENIUM_READER_KWARGS, write_xenium_folder


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
    synthetic_controls = frame["feature_name"].astype(str).str.startswith(("NegControl", "BLANK")).sum()
    assert controls.sum() == synthetic_controls + 20 and (assigned[controls.to_numpy()] == 0).all()
    assert sdata["halo_table"].X.sum() == (assigned > 0).sum()
    assert (sdata["halo_table"].X.sum() - reference["halo_table"].X.sum()) / reference["halo_table"].X.sum() < 0.01
    assert not np.any(sdata["halo_table"].var_names.str.startswith("NegControl"))
