"""End-to-end behaviour of halo.tl.segment on synthetic tissue."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import halo
from tests.conftest import grid_pixel_centres, is_control, transcripts_in_pixels


def test_table_rows_match_shapes_and_ids_line_up(segmented):
    shapes = segmented["halo_boundaries"]
    table = segmented["halo_table"]
    assert table.n_obs == len(shapes) > 200
    np.testing.assert_array_equal(table.obs["cell_id"].to_numpy(), shapes.index.to_numpy())
    np.testing.assert_array_equal(shapes.index.to_numpy(), np.arange(1, len(shapes) + 1))
    attrs = table.uns["spatialdata_attrs"]
    assert attrs["region"] == "halo_boundaries"
    assert attrs["instance_key"] == "cell_id"
    assert set(segmented["halo_nuclei"].index) <= set(shapes.index)


def test_counts_equal_assigned_transcripts(segmented):
    frame = segmented["transcripts"].compute()
    table = segmented["halo_table"]
    kept = ~frame["feature_name"].astype(str).str.match(halo.io.DEFAULT_CONTROL_PATTERN, case=False)
    kept &= frame["qv"] >= 20
    assigned = frame[frame["halo_cell_id"] > 0]
    # dropped transcripts are never assigned
    assert not (assigned.index.isin(frame.index[~kept])).any()
    expected = assigned.groupby(["halo_cell_id", assigned["feature_name"].astype(str)]).size().unstack(fill_value=0)
    counts = table.to_df(layer="counts")
    counts.index = table.obs["cell_id"].to_numpy()
    expected = expected.reindex(index=counts.index, columns=counts.columns, fill_value=0)
    np.testing.assert_array_equal(counts.to_numpy(), expected.to_numpy())
    np.testing.assert_array_equal(table.obs["transcript_count"].to_numpy(), counts.sum(axis=1).to_numpy())
    assert table.X.dtype == np.int32
    assert (table.X != table.layers["counts"]).nnz == 0
    genes = frame["feature_name"].cat.categories
    assert list(table.var_names) == list(genes[~is_control(genes)])


def test_shapes_are_valid_polygons_and_do_not_overlap(segmented):
    for key in ("halo_boundaries", "halo_nuclei"):
        geoms = segmented[key].geometry.to_numpy()
        assert shapely.is_valid(geoms).all()
        assert (segmented[key].geom_type == "Polygon").all()
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        pairs = left < right
        overlap = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
        assert overlap.max(initial=0.0) == 0.0


def test_nuclei_lie_inside_their_cells(segmented):
    cells = segmented["halo_boundaries"]
    nuclei = segmented["halo_nuclei"]
    inside = shapely.covers(cells.geometry.loc[nuclei.index].to_numpy(), nuclei.geometry.to_numpy())
    assert inside.all()


def test_assigned_transcripts_lie_inside_their_cell(segmented):
    frame = transcripts_in_pixels(segmented)
    assigned = frame[frame["halo_cell_id"] > 0]
    # a transcript lies in the pixel of the working grid that holds it: outlines keep every such pixel's centre
    # on its side
    centres = grid_pixel_centres(assigned)
    polygons = segmented["halo_boundaries"].geometry.loc[assigned["halo_cell_id"].to_numpy()].to_numpy()
    assert shapely.contains(polygons, centres).all()
    unassigned = frame[(frame["halo_cell_id"] == 0) & (frame["qv"] >= 20)]
    unassigned = unassigned[~is_control(unassigned["feature_name"])]
    hits = shapely.STRtree(segmented["halo_boundaries"].geometry.to_numpy()).query(
        grid_pixel_centres(unassigned), predicate="within"
    )
    assert hits.size == 0


def test_morphology_in_obs_is_consistent(segmented):
    table = segmented["halo_table"]
    shapes = segmented["halo_boundaries"]
    obs = table.obs
    um2_per_px = 0.2125**2
    # obs measures the pixels; the smoothed outline cuts and adds corner triangles that nearly cancel: it moves by a
    # fraction of a pixel, so a cell's area by less than a quarter pixel per pixel of outline (a small cell's by a
    # few percent), and the cells' total area by almost nothing
    pixel_area = obs["area_um2"].to_numpy() / um2_per_px
    outline_area, outline_length = shapes.geometry.area.to_numpy(), shapes.geometry.length.to_numpy()
    assert (np.abs(outline_area - pixel_area) <= 0.25 * outline_length).all()
    np.testing.assert_allclose(outline_area.sum(), pixel_area.sum(), rtol=0.002)
    assert (obs["nucleus_area_um2"] <= obs["area_um2"]).all()
    assert ((obs["solidity"] > 0) & (obs["solidity"] <= 1 + 1e-9)).all()
    assert (obs["elongation"] >= 1).all()
    assert (obs["perimeter_um"] > 0).all()
    centroids = shapely.get_coordinates(shapes.geometry.centroid)
    np.testing.assert_allclose(table.obsm["spatial"], centroids, atol=0.5)
    params = table.uns["halo"]["params"]
    assert params["expansion_um"] == 5.0 and params["max_reach_um"] == 15.0
    assert "spatialdata" in table.uns["halo"]["versions"]
    if params["method"] == "halo":
        assert ((obs["confidence"] >= 0) & (obs["confidence"] <= 1)).all()
    else:
        assert "confidence" not in obs


def test_cells_reach_no_farther_than_the_method_allows(segmented):
    params = segmented["halo_table"].uns["halo"]["params"]
    reach_um = params["expansion_um"] if params["method"] == "expansion" else params["max_reach_um"]
    cells = segmented["halo_boundaries"].geometry
    nuclei = segmented["halo_nuclei"].geometry
    grown = shapely.buffer(nuclei.to_numpy(), reach_um / 0.2125 + 1.0)
    assert shapely.covers(grown, cells.loc[nuclei.index].to_numpy()).all()


def test_halo_gives_one_cell_per_nucleus_whatever_the_tiling():
    one = halo.datasets.synthetic(size_um=(150.0, 110.0), seed=5)
    many = halo.datasets.synthetic(size_um=(150.0, 110.0), seed=5)
    halo.tl.segment(one, tile_um=1000.0, progress=False)
    halo.tl.segment(many, tile_um=75.0, overlap_um=70.0, max_reach_um=6.0, progress=False)
    one_again = halo.datasets.synthetic(size_um=(150.0, 110.0), seed=5)
    halo.tl.segment(one_again, tile_um=1000.0, overlap_um=70.0, max_reach_um=6.0, progress=False)
    assert many["halo_table"].uns["halo"]["params"]["n_tiles"] >= 4
    a, b = one_again["halo_boundaries"], many["halo_boundaries"]
    assert len(a) == len(b) == len(one["halo_boundaries"])
    # the network runs on patches fixed to the slide, so every pixel's prediction is the same in every tiling
    assert shapely.equals(a.geometry.to_numpy(), b.geometry.to_numpy()).all()
    np.testing.assert_array_equal(
        one_again["transcripts"]["halo_cell_id"].compute().to_numpy(),
        many["transcripts"]["halo_cell_id"].compute().to_numpy(),
    )
    np.testing.assert_array_equal(one_again["halo_table"].obs["confidence"], many["halo_table"].obs["confidence"])


def test_one_tile_and_many_tiles_give_the_same_result():
    one = halo.datasets.synthetic(seed=5)
    many = halo.datasets.synthetic(seed=5)
    halo.tl.segment(one, method="expansion", tile_um=1000.0, progress=False)
    halo.tl.segment(many, method="expansion", tile_um=81.0, overlap_um=80.0, progress=False)
    assert many["halo_table"].uns["halo"]["params"]["n_tiles"] >= 6
    a, b = one["halo_boundaries"], many["halo_boundaries"]
    assert len(a) == len(b)
    assert shapely.equals(a.geometry.to_numpy(), b.geometry.to_numpy()).all()
    assert (one["halo_table"].X != many["halo_table"].X).nnz == 0
    np.testing.assert_array_equal(
        one["transcripts"]["halo_cell_id"].compute().to_numpy(),
        many["transcripts"]["halo_cell_id"].compute().to_numpy(),
    )


def test_existing_nucleus_segmentation_gives_one_cell_per_nucleus(small_sdata):
    n_true = len(small_sdata["true_nucleus_boundaries"])
    halo.tl.segment(small_sdata, method="expansion", nuclei_key="true_nuclei", key_added="from_labels", progress=False)
    halo.tl.segment(
        small_sdata, method="expansion", nuclei_key="true_nucleus_boundaries", key_added="from_shapes", progress=False
    )
    for key in ("from_labels", "from_shapes"):
        assert len(small_sdata[f"{key}_boundaries"]) == n_true
    # both routes rasterise the same nuclei, so they draw the same cells
    a = small_sdata["from_labels_boundaries"].geometry.to_numpy()
    b = small_sdata["from_shapes_boundaries"].geometry.to_numpy()
    assert shapely.equals(a, b).all()


def test_rerun_with_same_key_replaces_results(small_sdata):
    halo.tl.segment(small_sdata, method="expansion", expansion_um=2.0, progress=False)
    small_area = small_sdata["halo_table"].obs["area_um2"].sum()
    halo.tl.segment(small_sdata, method="expansion", expansion_um=6.0, progress=False)
    assert small_sdata["halo_table"].obs["area_um2"].sum() > small_area
    assert small_sdata["halo_table"].uns["halo"]["params"]["expansion_um"] == 6.0
    assert [k for k in small_sdata.shapes if k.startswith("halo")] == ["halo_boundaries", "halo_nuclei"]


def test_failed_run_keeps_previous_results(small_sdata, monkeypatch):
    halo.tl.segment(small_sdata, method="expansion", progress=False)
    before = small_sdata["halo_boundaries"].copy()
    column_before = small_sdata["transcripts"]["halo_cell_id"].compute().to_numpy()

    def broken(*args, **kwargs):
        raise RuntimeError("tile crashed")

    monkeypatch.setattr("halo._pipeline._run.segment_tile", broken)
    with pytest.raises(RuntimeError, match="tile crashed"):
        halo.tl.segment(small_sdata, method="expansion", expansion_um=1.0, progress=False)
    assert small_sdata["halo_boundaries"].equals(before)
    np.testing.assert_array_equal(small_sdata["transcripts"]["halo_cell_id"].compute().to_numpy(), column_before)


def test_halo_can_seed_cells_with_the_networks_own_nuclei(small_sdata):
    with pytest.raises(ValueError, match="Unknown nuclei_source 'dapi'"):
        halo.tl.segment(small_sdata, nuclei_source="dapi", progress=False)
    halo.tl.segment(small_sdata, nuclei_source="model", key_added="net", progress=False)
    table, shapes = small_sdata["net_table"], small_sdata["net_boundaries"]
    assert table.uns["halo"]["params"]["nuclei_source"] == "model"
    assert table.n_obs == len(shapes) > 20
    assert set(small_sdata["net_nuclei"].index) <= set(shapes.index)
    assigned = small_sdata["transcripts"]["net_cell_id"].compute()
    assert table.X.sum() == (assigned > 0).sum()
