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
