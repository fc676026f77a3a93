"""halo inside sopa's workflow: the callable gives halo's own cells, on one patch and through sopa's patching."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import halo

#: Small cells, so that patches of 500 px overlapping by 200 px keep every cell whole in some patch.
OPTIONS = {"method": "halo", "max_reach_um": 3.0, "nucleus_options": {"max_area_um2": 80.0}}


def _grid_labels(geometries, ids, shape, factor):
    """Polygons drawn on the working grid by pixel centres: halo's hold exactly their grid pixels' centres."""
    from rasterio.features import rasterize

    scale = shapely.affinity.scale  # native pixels -> grid pixels
    pairs = ((scale(g, 1 / factor, 1 / factor, origin=(0, 0)), int(i)) for i, g in zip(ids, geometries, strict=True))
    return rasterize(pairs, out_shape=tuple(-(-s // factor) for s in shape), fill=0, dtype="int32")


def _halo_grid_labels(sdata, key, factor):
    boundaries = sdata[f"{key}_boundaries"]
    return _grid_labels(boundaries.geometry, boundaries.index, sdata["dapi"].shape[1:], factor)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label images draw the same cells, whatever their ids."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def test_a_patch_over_the_whole_slide_gives_halos_cells(small_sdata):
    sdata = small_sdata
    halo.tl.segment(sdata, progress=False, **OPTIONS)
    with halo.tl.sopa_segmenter(sdata, **OPTIONS) as segmenter:
        coordinates = sdata[segmenter.image_key].data.compute()
        labels = segmenter(coordinates)
        factor = segmenter.grid.factor
        assert labels.shape == sdata["dapi"].shape[1:] and labels.dtype == np.int32
        centre = factor // 2
        on_grid = labels[centre::factor, centre::factor]
        assert _same_partition(on_grid, _halo_grid_labels(sdata, "halo", factor))
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
        factor = segmenter.grid.factor
    # compared as the pixels of the working grid each cell covers (sopa draws its outlines on native pixels)
    ours = _halo_grid_labels(sdata, "halo", factor)
    cells = sdata["sopa_cells"]
    theirs = _grid_labels(cells.geometry, range(1, len(cells) + 1), sdata["dapi"].shape[1:], factor)
    pairs, overlap = np.unique(np.stack([ours.ravel(), theirs.ravel()]), axis=1, return_counts=True)
    size_ours = np.bincount(ours.ravel())
    size_theirs = np.bincount(theirs.ravel())
    both = (pairs[0] > 0) & (pairs[1] > 0)
    iou = overlap[both] / (size_ours[pairs[0][both]] + size_theirs[pairs[1][both]] - overlap[both])
    best = np.zeros(size_ours.size)
    np.maximum.at(best, pairs[0][both], iou)
    best = best[np.unique(ours[ours > 0])]
    # sopa smooths every outline it traces (a buffer of a tenth of the mean cell radius), which moves small cells
    # by a few pixels; the cells themselves are halo's (the whole-slide test above compares them exactly)
    assert np.median(best) > 0.95 and np.mean(best > 0.85) > 0.9, np.percentile(best, [5, 25, 50])
    assert abs(len(cells) - best.size) <= 0.05 * best.size
