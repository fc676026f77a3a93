"""halo inside sopa's workflow: the callable gives halo's own cells, on one patch and through sopa's patching."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import halo

#: Small cells, so that patches of 500 px overlapping by 200 px keep every cell whole in some patch.
OPTIONS = {"method": "halo", "max_reach_um": 3.0, "nucleus_options": {"max_area_um2": 80.0}}


def _grid_labels(sdata, key, factor):
    """halo's cells drawn on its working grid: each polygon holds exactly its grid pixels' centres."""
    from rasterio.features import rasterize

    height, width = (-(-s // factor) for s in sdata["dapi"].shape[1:])
    boundaries = sdata[f"{key}_boundaries"]
    scaled = shapely.affinity.scale  # native pixels -> grid pixels
    return rasterize(
        ((scaled(g, 1 / factor, 1 / factor, origin=(0, 0)), int(i)) for i, g in boundaries.geometry.items()),
        out_shape=(height, width), fill=0, dtype="int32",
    )  # fmt: skip


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label images draw the same cells, whatever their ids."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def test_a_patch_over_the_whole_slide_gives_halos_cells():
    sdata = halo.datasets.synthetic(size_um=(110.0, 90.0), seed=3)
    halo.tl.segment(sdata, progress=False, **OPTIONS)
    with halo.tl.sopa_segmenter(sdata, **OPTIONS) as segmenter:
        coordinates = sdata[segmenter.image_key].data.compute()
        labels = segmenter(coordinates)
        factor = segmenter.grid.factor
        assert labels.shape == sdata["dapi"].shape[1:] and labels.dtype == np.int32
        centre = factor // 2
        on_grid = labels[centre::factor, centre::factor]
        assert _same_partition(on_grid, _grid_labels(sdata, "halo", factor))
        assert len(np.unique(on_grid)) - 1 == len(sdata["halo_boundaries"])
        # a patch elsewhere reads its own position: its labels are those of the same window
        part = segmenter(coordinates[:, 101:401, 57:357])
        assert part.shape == (300, 300)
        with pytest.raises(ValueError, match="sopa_kwargs"):
            segmenter(coordinates[:1])


def test_sopas_workflow_with_halo_keeps_halos_cells():
    sopa = pytest.importorskip("sopa")
    sdata = halo.datasets.synthetic(seed=0)
    halo.tl.segment(sdata, progress=False, **OPTIONS)
    with halo.tl.sopa_segmenter(sdata, **OPTIONS) as segmenter:
        sopa.make_image_patches(sdata, patch_width=500, patch_overlap=max(200, segmenter.overlap_px),
                                image_key=segmenter.image_key)  # fmt: skip
        assert len(sdata["image_patches"]) >= 4
        sopa.segmentation.custom_staining_based(sdata, segmenter, key_added="sopa_cells", **segmenter.sopa_kwargs)
    theirs = sdata["sopa_cells"].geometry.to_numpy()
    ours = sdata["halo_boundaries"].geometry.to_numpy()
    tree = shapely.STRtree(theirs)
    best = []
    for cell in ours:  # the sopa cell that overlaps each halo cell most
        hits = tree.query(cell)
        inter = shapely.area(shapely.intersection(cell, theirs[hits])) if hits.size else np.zeros(1)
        union = shapely.area(shapely.union(cell, theirs[hits])) if hits.size else np.ones(1)
        best.append((inter / union).max())
    assert np.mean(np.asarray(best) > 0.9) > 0.9, np.percentile(best, [5, 25, 50])
    assert abs(len(theirs) - len(ours)) <= 0.05 * len(ours)
