"""Property-based tests (hypothesis) of the geometry and tiling that every result rests on."""

from __future__ import annotations

from functools import cache

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.features import rasterize
from skimage.measure import label as connected

import halo
from halo._geometry import keep_largest_component, labels_to_polygons
from halo._geometry._outlines import smooth_shared_outlines
from halo._geometry._polygons import labels_to_ragged
from halo._tiling import tile_grid, tile_of_points

FAST = settings(max_examples=60, deadline=None)

label_images = hnp.arrays(
    np.int32,
    shape=st.tuples(st.integers(1, 14), st.integers(1, 14)),
    elements=st.integers(0, 4),
)


@FAST
@given(labels=label_images, offset=st.tuples(st.integers(-50, 50), st.integers(-50, 50)))
def test_polygons_of_any_label_image_are_valid_and_rerasterise_exactly(labels, offset):
    polygons = labels_to_polygons(labels, offset=offset)
    present = set(np.unique(labels[labels > 0]).tolist())
    assert set(polygons) == present
    if not present:
        return
    geoms = [polygons[key] for key in sorted(present)]
    assert shapely.is_valid(geoms).all()
    areas = np.bincount(labels.ravel(), minlength=5)
    np.testing.assert_array_equal(shapely.area(geoms), areas[sorted(present)])
    # pixel-centre rule: pixel (row, col) of the image is drawn where its centre lies
    from affine import Affine

    drawn = rasterize(
        zip(geoms, sorted(present), strict=True),
        out_shape=labels.shape,
        transform=Affine.translation(*offset),
        fill=0,
        dtype="int32",
    )
    np.testing.assert_array_equal(drawn, labels)


@FAST
@given(
    labels=label_images,
    ids=st.lists(st.integers(1, 5), unique=True).map(sorted),
    offset=st.tuples(st.integers(-50, 50), st.integers(-50, 50)),
    scale=st.sampled_from([1, 2, 1.5]),
    split=st.integers(0, 5),
)
def test_ragged_polygons_hold_the_same_polygons_in_the_order_asked(labels, ids, offset, scale, split):
    polygons = labels_to_polygons(labels, ids=ids, offset=offset, scale=scale)
    ragged = [labels_to_ragged(labels, ids[:split], offset=offset, scale=scale)]
    ragged.append(labels_to_ragged(labels, ids[split:], offset=offset, scale=scale))
    rebuilt = np.concatenate([part.to_shapely(chunk=2) for part in ragged])
    assert len(rebuilt) == len(ids)
    for key, geometry in zip(ids, rebuilt, strict=True):
        expected = polygons.get(key)
        assert (geometry is None) if expected is None else shapely.equals_exact(geometry, expected, 0)
    if scale != 1.5 and ragged[0].coords.size:
        assert ragged[0].coords.dtype == np.int32  # whole-number vertices are stored compactly


@FAST
@given(
    labels=hnp.arrays(np.int32, shape=st.tuples(st.integers(1, 24), st.integers(1, 24)), elements=st.integers(0, 5)),
    offset=st.tuples(st.integers(-20, 20), st.integers(-20, 20)),
    pixel=st.sampled_from([1, 2]),
    split=st.integers(0, 6),
)
def test_smoothed_outlines_share_their_arcs_and_keep_every_pixel_centre(labels, offset, pixel, split):
    """Smoothed outlines are valid, rasterise back to their pixels, and do not depend on how they are grouped."""
    from affine import Affine

    labels = labels.repeat(2, axis=0).repeat(2, axis=1)  # blobs large enough to have arcs worth simplifying
    labels[labels % 3 == 0] = 0  # and some background
    ids = np.unique(labels[labels > 0])
    origin = (offset[0] * pixel, offset[1] * pixel)
    traced = labels_to_ragged(labels, ids, offset=origin, scale=pixel)
    (whole,) = smooth_shared_outlines([traced], [], pixel=pixel)
    geoms = whole.to_shapely()
    if not ids.size:
        return
    assert shapely.is_valid(geoms).all()
    drawn = rasterize(
        zip(geoms, ids.tolist(), strict=True), out_shape=labels.shape,
        transform=Affine.translation(*origin) @ Affine.scale(pixel), fill=0, dtype="int32",
    )  # fmt: skip
    np.testing.assert_array_equal(drawn, labels)  # pixel-centre rule: every centre on its own side
    left, right = np.triu_indices(ids.size, k=1)
    assert shapely.area(shapely.intersection(geoms[left], geoms[right])).max(initial=0) < 1e-9
    assert shapely.get_num_coordinates(geoms).sum() <= shapely.get_num_coordinates(traced.to_shapely()).sum() * 2

    # as tiles do: smooth some outlines with the others as context, then the rest: the same vertices
    first = labels_to_ragged(labels, ids[:split], offset=origin, scale=pixel)
    rest = labels_to_ragged(labels, ids[split:], offset=origin, scale=pixel)
    (a,) = smooth_shared_outlines([first], [rest], pixel=pixel)
    (b,) = smooth_shared_outlines([rest], [first], pixel=pixel)
    together = np.concatenate([a.to_shapely(), b.to_shapely()])
    assert shapely.equals_exact(together, geoms, tolerance=0).all()


def test_ragged_polygons_refuse_ids_out_of_order():
    with pytest.raises(ValueError, match="increasing"):
        labels_to_ragged(np.ones((2, 2), np.int32), [2, 1])


@FAST
@given(labels=label_images)
def test_keep_largest_component_keeps_one_4_connected_piece_per_label(labels):
    kept = keep_largest_component(labels)
    assert kept.dtype == labels.dtype and kept.shape == labels.shape
    assert ((kept == labels) | (kept == 0)).all()  # only removes pixels
    for value in np.unique(labels[labels > 0]):
        pieces = connected(labels == value, connectivity=1)
        largest = np.bincount(pieces.ravel())[1:].max()
        kept_pieces = connected(kept == value, connectivity=1)
        assert kept_pieces.max() == 1  # present, and in one 4-connected piece
        assert (kept == value).sum() == largest


@FAST
@given(
    shape=st.tuples(st.integers(1, 120), st.integers(1, 120)),
    core_px=st.integers(1, 60),
    margin_px=st.integers(0, 30),
    data=st.data(),
)
def test_tile_cores_partition_the_slide_and_points_fall_in_exactly_one(shape, core_px, margin_px, data):
    tiles = tile_grid(shape, core_px, margin_px)
    cover = np.zeros(shape, dtype=np.int32)
    for index, tile in enumerate(tiles):
        assert tile.index == index
        core, window = tile.core, tile.window
        cover[core.y0 : core.y1, core.x0 : core.x1] += 1
        assert window.y0 == max(core.y0 - margin_px, 0) and window.y1 == min(core.y1 + margin_px, shape[0])
        assert window.x0 == max(core.x0 - margin_px, 0) and window.x1 == min(core.x1 + margin_px, shape[1])
    assert (cover == 1).all()

    coordinate = st.one_of(st.floats(-5.0, 125.0), st.sampled_from([np.nan, np.inf, -np.inf]))
    xy = data.draw(hnp.arrays(np.float64, st.tuples(st.integers(0, 50), st.just(2)), elements=coordinate))
    index = tile_of_points(xy[:, 0], xy[:, 1], shape, core_px)
    with np.errstate(invalid="ignore"):
        rows, cols = np.floor(xy[:, 1]), np.floor(xy[:, 0])
        inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    assert ((index >= 0) == inside).all()
    cores = np.array([[t.core.y0, t.core.y1, t.core.x0, t.core.x1] for t in tiles])
    r, c = rows[inside, None], cols[inside, None]
    owns = (r >= cores[:, 0]) & (r < cores[:, 1]) & (c >= cores[:, 2]) & (c < cores[:, 3])
    assert (owns.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(owns.argmax(axis=1), index[inside])


OPTIONS = {"nucleus_options": {"max_area_um2": 80.0}, "expansion_um": 3.0, "overlap_um": 33.0, "progress": False}


@cache
def _one_tile():
    sdata = halo.datasets.synthetic(size_um=(90.0, 70.0), seed=21)
    halo.tl.segment(sdata, method="expansion", tile_um=1000.0, **OPTIONS)
    return sdata["transcripts"]["halo_cell_id"].compute().to_numpy(), sdata["halo_table"].X.toarray()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tile_um=st.floats(34.0, 100.0))
def test_any_tiling_counts_every_transcript_once_in_the_same_cell(tile_um):
    assignment, counts = _one_tile()
    sdata = halo.datasets.synthetic(size_um=(90.0, 70.0), seed=21)
    halo.tl.segment(sdata, method="expansion", tile_um=tile_um, **OPTIONS)
    tiled = sdata["transcripts"]["halo_cell_id"].compute().to_numpy()
    np.testing.assert_array_equal(tiled, assignment)
    np.testing.assert_array_equal(sdata["halo_table"].X.toarray(), counts)
    assert sdata["halo_table"].X.sum() == (tiled > 0).sum()  # each assigned transcript counted once


@pytest.mark.parametrize("grid_px", [1, 2])
@pytest.mark.parametrize("radius", [8.0, 20.0, 40.0])
def test_smoothed_perimeter_of_a_traced_disc_is_close_to_its_circumference(radius, grid_px):
    from halo._geometry import labels_to_polygons
    from halo._geometry._polygons import smoothed_perimeter

    rows, cols = np.mgrid[:200, :200]
    disc = (((rows - 100.3) ** 2 + (cols - 100.6) ** 2) < radius**2).astype(np.int32)
    polygon = labels_to_polygons(disc[::grid_px, ::grid_px], scale=grid_px)[1]
    estimate = smoothed_perimeter([polygon], tolerance=float(grid_px))[0]
    assert estimate == pytest.approx(2 * np.pi * radius, rel=0.08)


def _two_split_blobs():
    """Foreground and intensity of two blobs of two nuclei each; the second has a piece joined only at a corner."""
    yy, xx = np.mgrid[:30, :40]

    def bump(cy, cx):
        d = (yy - cy) ** 2 + (xx - cx) ** 2
        return np.where(d <= 16, 1 - d / 17, 0)

    first, second = bump(6, 6) + bump(6, 13), bump(20, 20) + bump(20, 27)
    foreground = (first > 0) | (second > 0)
    peaks = (first + second).astype(np.float32)
    foreground[14:16, 18:20] |= np.eye(2, dtype=bool)  # (15, 19) touches the second blob's (16, 20) at a corner
    peaks[14:16, 18:20] += 0.05 * np.eye(2, dtype=np.float32)
    return foreground, peaks


def test_a_blob_is_split_the_same_whatever_else_the_window_holds():
    from scipy import ndimage

    from halo.methods._nuclei import _split_blobs

    foreground, peaks = _two_split_blobs()
    blobs, n = ndimage.label(foreground, np.ones((3, 3), bool))
    assert n == 2
    labels = _split_blobs(foreground, peaks, 0.01)
    for value in np.unique(labels[labels > 0]):  # every nucleus inside one blob
        assert np.unique(blobs[labels == value]).size == 1
    assert np.unique(labels[blobs == 1]).size == 2 and np.unique(labels[(blobs == 2) & (labels > 0)]).size == 2
    # the second blob alone in a window: the same nuclei, up to their numbering
    alone = _split_blobs(foreground[12:, 12:], peaks[12:, 12:], 0.01)
    together = labels[12:, 12:] * (blobs[12:, 12:] == 2)
    pairs = np.unique(np.stack([alone.ravel(), together.ravel()]), axis=1)
    assert np.unique(pairs[0]).size == pairs.shape[1] == np.unique(pairs[1]).size  # one-to-one
