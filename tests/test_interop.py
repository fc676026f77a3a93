"""halo's output opens in Xenium Explorer: sopa's explorer writer converts it, offline, with cells in place."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

import halo

UM_PER_PX = 0.2125  # synthetic() pixel size


def test_sopa_explorer_writer_on_halo_output(tmp_path, small_sdata):
    sopa = pytest.importorskip("sopa")
    zarr = pytest.importorskip("zarr")
    sdata = small_sdata
    halo.tl.segment(sdata, progress=False)
    out = tmp_path / "halo.explorer"
    # the call shown in docs/interop.md
    sopa.io.explorer.write(
        str(out), sdata, image_key="dapi", shapes_key="halo_boundaries", nucleus_shapes_key="halo_nuclei",
        points_key="transcripts", gene_column="feature_name", table_key="halo_table", pixel_size=UM_PER_PX,
    )  # fmt: skip
    names = {p.name for p in out.iterdir()}
    assert {"experiment.xenium", "morphology.ome.tif", "cells.zarr.zip", "cell_feature_matrix.zarr.zip"} <= names
    assert {"analysis.zarr.zip", "transcripts.zarr.zip"} <= names
    meta = json.loads((out / "experiment.xenium").read_text())
    table = sdata["halo_table"]
    assert meta["num_cells"] == table.n_obs and meta["pixel_size"] == UM_PER_PX

    # polygons land where halo drew them: explorer vertices are microns on the image's pixel grid, nuclei first
    cells = zarr.open(zarr.storage.ZipStore(out / "cells.zarr.zip", mode="r"), mode="r")
    vertices = np.asarray(cells["polygon_vertices"])  # (nucleus / cell, cells, 2 * vertices), x and y interleaved
    counts = np.asarray(cells["polygon_num_vertices"])
    assert vertices.shape[1] == table.n_obs
    ids = table.obs["cell_id"]
    for layer, element in ((0, "halo_nuclei"), (1, "halo_boundaries")):
        for i, polygon in enumerate(sdata[element].loc[ids].geometry):
            simplified = shapely.Polygon(vertices[layer, i, : 2 * counts[layer, i]].reshape(-1, 2) / UM_PER_PX)
            iou = polygon.intersection(simplified).area / polygon.union(simplified).area
            assert iou > 0.8, f"{element} {ids.iloc[i]}: the explorer polygon does not match (IoU {iou:.2f})"


@pytest.fixture(scope="module")
def segmented_small():
    sdata = halo.datasets.synthetic(size_um=(110.0, 90.0), seed=3)
    halo.tl.segment(sdata, method="expansion", progress=False)
    return sdata


def test_xenium_ranger_masks_are_uint32_labels_of_the_morphology_image(segmented_small, tmp_path):
    sdata = segmented_small
    files = halo.io.write_xenium_ranger(sdata, tmp_path, geojson=False)
    cells, nuclei = np.load(files.cells_mask), np.load(files.nuclei_mask)
    image = sdata["dapi"]
    assert cells.dtype == nuclei.dtype == np.uint32 and cells.shape == nuclei.shape == image.shape[1:]
    boundaries = sdata["halo_boundaries"]
    assert set(np.unique(cells)) == {0, *boundaries.index}  # every cell, and nothing else
    for cell_id, polygon in boundaries.geometry.items():  # each cell's id is drawn where its polygon is
        x, y = shapely.get_coordinates(polygon.point_on_surface())[0]
        inside = shapely.contains_xy(polygon, np.floor(x) + 0.5, np.floor(y) + 0.5)
        assert not inside or cells[int(y), int(x)] == cell_id
    has_nucleus = nuclei > 0  # a nucleus lies inside its own cell
    assert (cells[has_nucleus] == nuclei[has_nucleus]).mean() > 0.999
    assert set(np.unique(nuclei)) == {0, *sdata["halo_nuclei"].index}
    command = files.command("/data/xenium_output")
    assert command == (
        f"xeniumranger import-segmentation --id=halo --xenium-bundle=/data/xenium_output "
        f"--nuclei={files.nuclei_mask} --cells={files.cells_mask}"
    )


def test_xenium_ranger_geojson_is_a_feature_collection_of_cells_with_nuclei(segmented_small, tmp_path):
    sdata = segmented_small
    files = halo.io.write_xenium_ranger(sdata, tmp_path, masks=False)
    document = json.loads(files.geojson.read_text())
    assert document["type"] == "FeatureCollection"
    features = document["features"]
    boundaries, nuclei = sdata["halo_boundaries"], sdata["halo_nuclei"]
    assert [int(f["id"]) for f in features] == list(boundaries.index)
    for feature in features:
        assert feature["type"] == "Feature" and feature["properties"]["objectType"] == "cell"
        cell_id = int(feature["id"])
        ring = feature["geometry"]["coordinates"][0]
        assert feature["geometry"]["type"] == "Polygon" and ring[0] == ring[-1]  # closed ring, image pixels
        assert shapely.equals_exact(shapely.geometry.shape(feature["geometry"]), boundaries.geometry[cell_id], 1e-9)
        if cell_id in nuclei.index:
            nucleus = shapely.geometry.shape(feature["nucleusGeometry"])
            assert shapely.equals_exact(nucleus, nuclei.geometry[cell_id], 1e-9)
    assert "--units=pixels" in files.command("bundle", masks=False)
    with pytest.raises(ValueError, match="No masks were written"):
        files.command("bundle")


def test_xenium_ranger_files_are_in_the_morphology_images_pixels(segmented_small, tmp_path):
    """A segmentation made on another image is mapped into the morphology image's pixels."""
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import Scale

    sdata = segmented_small
    half = sdata["dapi"].data[:, ::2, ::2]  # a morphology image of half the resolution
    sdata["morphology_focus"] = Image2DModel.parse(
        half, dims=("c", "y", "x"), c_coords=["DAPI"], transformations={"global": Scale([2.0, 2.0], axes=("x", "y"))}
    )
    try:
        files = halo.io.write_xenium_ranger(sdata, tmp_path)
        assert np.load(files.cells_mask).shape == half.shape[1:]
        first = json.loads(files.geojson.read_text())["features"][0]
        expected = shapely.affinity.scale(sdata["halo_boundaries"].geometry.iloc[0], 0.5, 0.5, origin=(0, 0))
        assert shapely.equals_exact(shapely.geometry.shape(first["geometry"]), expected, 1e-9)
    finally:
        del sdata["morphology_focus"]
