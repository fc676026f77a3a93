"""Bad input gets a clear error naming the element, the problem and the fix, before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
from spatialdata.models import Image2DModel, PointsModel, TableModel
from spatialdata.transformations import Identity, set_transformation

import halo


def _elements(sdata):
    return sorted(name for _, name, _ in sdata.gen_elements())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"key_added": "bad name"}, "not a valid element name"),
        ({"method": "cellpose"}, "Unknown method"),
        ({"expansion_um": -1.0}, "expansion_um must be >= 0"),
        ({"tile_um": 0.0}, "tile_um must be positive"),
        ({"overlap_um": 10.0}, "less than twice the largest cell diameter"),
        ({"tile_um": 60.0, "overlap_um": 70.0}, "must be smaller than tile_um"),
        ({"um_per_px": -0.2}, "um_per_px must be positive"),
        ({"image_key": "nope"}, "No image element 'nope'"),
        ({"points_key": "nope"}, "No points element 'nope'"),
        ({"channel": "PolyT"}, "has no channel 'PolyT'"),
        ({"channel": 3}, "out of range"),
        ({"nuclei_key": "nope"}, "neither a labels nor a shapes element"),
        ({"nucleus_options": {"size": 3}}, "Unknown nucleus options"),
        ({"nucleus_options": {"threshold": 2.0}}, "must lie in"),
        ({"nucleus_options": {"local_fraction": 1.0}}, "local_fraction must lie in"),
        ({"control_pattern": ".*"}, "Every gene"),
    ],
)
def test_bad_arguments_fail_without_writing(small_sdata, kwargs, match):
    before = _elements(small_sdata)
    with pytest.raises((ValueError, KeyError), match=match):
        halo.tl.segment(small_sdata, progress=False, **{"method": "expansion", **kwargs})
    assert _elements(small_sdata) == before
    assert "halo_cell_id" not in small_sdata["transcripts"].columns


def test_ambiguous_images_and_points_list_the_candidates(small_sdata):
    small_sdata["dapi2"] = Image2DModel.parse(
        small_sdata["dapi"].data, dims=("c", "y", "x"), c_coords=["DAPI"], transformations={"global": Identity()}
    )
    with pytest.raises(ValueError, match=r"several: \['dapi', 'dapi2'\].*image_key="):
        halo.tl.segment(small_sdata, method="expansion", progress=False)
    frame = small_sdata["transcripts"].compute()
    small_sdata["more"] = PointsModel.parse(frame, coordinates={"x": "x", "y": "y"}, feature_key="feature_name")
    with pytest.raises(ValueError, match=r"candidates: \['transcripts', 'more'\].*points_key="):
        halo.tl.segment(small_sdata, method="expansion", image_key="dapi", progress=False)


def test_multichannel_image_without_dapi_asks_for_a_channel(small_sdata):
    data = np.concatenate([small_sdata["dapi"].data.compute()] * 2)
    small_sdata["dapi"] = Image2DModel.parse(
        data, dims=("c", "y", "x"), c_coords=["PolyT", "Cellbound1"], transformations={"global": Identity()}
    )
    with pytest.raises(ValueError, match="none is named DAPI.*channel="):
        halo.tl.segment(small_sdata, method="expansion", image_key="dapi", progress=False)
    halo.tl.segment(small_sdata, method="expansion", image_key="dapi", channel="PolyT", progress=False)
    assert len(small_sdata["halo_boundaries"]) > 20


def test_key_clash_with_another_element_type(small_sdata):
    import anndata as ad

    small_sdata["clash_boundaries"] = TableModel.parse(ad.AnnData(np.zeros((2, 1), dtype=np.float32)))
    with pytest.raises(ValueError, match="element of type tables has that name.*key_added"):
        halo.tl.segment(small_sdata, method="expansion", key_added="clash", progress=False)
    assert "clash_nuclei" not in small_sdata


def test_points_and_image_without_shared_coordinate_system(small_sdata):
    set_transformation(small_sdata["transcripts"], Identity(), "microns", write_to_sdata=None)
    from spatialdata.transformations import remove_transformation

    remove_transformation(small_sdata["transcripts"], "global")
    with pytest.raises(ValueError, match="share no coordinate system"):
        halo.tl.segment(small_sdata, method="expansion", progress=False)


def test_image_without_nuclei_is_an_error_that_writes_nothing(small_sdata):
    blank = np.full((1, *small_sdata["dapi"].shape[1:]), 120, dtype=np.uint16)
    small_sdata["dapi"] = Image2DModel.parse(blank, dims=("c", "y", "x"), c_coords=["DAPI"])
    before = _elements(small_sdata)
    with pytest.raises(ValueError, match="No nuclei found in image 'dapi'.*threshold"):
        halo.tl.segment(small_sdata, method="expansion", progress=False)
    assert _elements(small_sdata) == before
