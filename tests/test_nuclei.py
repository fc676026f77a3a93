"""Nuclei from DAPI: each ends at its own half maximum, on bright cytoplasm haze as on dark glass."""

from __future__ import annotations

import numpy as np
import pytest

from halo._tiling import Box
from halo.methods import DapiStatistics, NucleusOptions, detect_nuclei

UM_PER_PX = 0.425


def _field(background: float, nuclei: list[tuple[tuple[int, int], float]]):
    """An image of discs (radius 8 px) of the given brightness on a flat background, and each disc's mask."""
    rows, cols = np.mgrid[:100, :160]
    image = np.full(rows.shape, background, np.float32)
    masks = []
    for (cy, cx), value in nuclei:
        disc = (rows - cy) ** 2 + (cols - cx) ** 2 < 8**2
        image[disc] = value
        masks.append(disc)
    return image, masks


def _detect(image, **options):
    # a slide-wide threshold of 0.1: below the haze, as a threshold low enough for dim nuclei is
    stats = DapiStatistics(low=0.0, high=1.0, threshold=0.1)
    box = Box(0, image.shape[0], 0, image.shape[1])
    return detect_nuclei(image, box, image.shape[1], stats, NucleusOptions(**options), UM_PER_PX).labels


def _iou_of_best(labels, disc):
    values, counts = np.unique(labels[disc], return_counts=True)
    best = values[counts.argmax()]
    if best == 0:
        return 0.0
    return (disc & (labels == best)).sum() / (disc | (labels == best)).sum()


def test_nuclei_on_haze_end_at_their_half_maximum_and_the_haze_is_no_nucleus():
    image, discs = _field(0.3, [((40, 40), 1.0), ((50, 110), 0.8)])
    labels = _detect(image)
    assert np.unique(labels[labels > 0]).size == 2  # the flat haze between them is dropped
    assert all(_iou_of_best(labels, disc) > 0.8 for disc in discs)


def test_a_dim_nucleus_keeps_its_own_half_maximum_beside_a_bright_one():
    image, discs = _field(0.0, [((40, 40), 1.0), ((50, 110), 0.25)])
    labels = _detect(image)
    assert np.unique(labels[labels > 0]).size == 2
    assert all(_iou_of_best(labels, disc) > 0.8 for disc in discs)


def test_without_the_local_maximum_the_haze_joins_the_nuclei():
    image, discs = _field(0.3, [((40, 40), 1.0), ((50, 110), 0.8)])
    labels = _detect(image, local_fraction=0.0)
    assert all(_iou_of_best(labels, disc) < 0.5 for disc in discs)


@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan")])
def test_local_fraction_outside_its_range_is_refused(value):
    with pytest.raises(ValueError, match="local_fraction must lie in"):
        NucleusOptions(local_fraction=value)


def _textured_nucleus():
    """One large nucleus (radius 13 px, 5.5 um) with two bright chromatin spots inside, and its mask."""
    rows, cols = np.mgrid[:100, :160]
    nucleus = (rows - 50) ** 2 + (cols - 80) ** 2 < 13**2
    image = np.where(nucleus, 0.6, 0.0).astype(np.float32)
    for cx in (74, 86):
        image[(rows - 50) ** 2 + (cols - cx) ** 2 < 3**2] = 0.9
    return image, nucleus


def test_chromatin_texture_does_not_cut_a_large_nucleus():
    image, nucleus = _textured_nucleus()
    labels = _detect(image)
    assert np.unique(labels[labels > 0]).size == 1
    assert _iou_of_best(labels, nucleus) > 0.9
    # splitting on intensity dips alone, as before the shape term, cuts it in two
    labels = _detect(image, split_shape_weight=0.0, split_contrast=0.01)
    assert np.unique(labels[labels > 0]).size == 2


def _round_clump():
    """A disc of dim haze (radius 20 px) holding four bright nuclei around its centre, and their masks."""
    rows, cols = np.mgrid[:100, :160]
    image = np.where((rows - 50) ** 2 + (cols - 80) ** 2 < 20**2, 0.5, 0.0).astype(np.float32)
    nuclei = [(rows - cy) ** 2 + (cols - cx) ** 2 < 6**2 for cy, cx in ((40, 80), (60, 80), (50, 70), (50, 90))]
    for nucleus in nuclei:
        image[nucleus] = 0.9
    return image, nuclei


def test_a_clump_too_large_for_one_nucleus_is_split_on_intensity_rather_than_dropped():
    image, nuclei = _round_clump()  # 227 um^2: the depth of the round outline hides the dips between the four
    labels = _detect(image, max_area_um2=150.0)
    assert np.unique(labels[labels > 0]).size == 4
    assert len({int(np.bincount(labels[nucleus]).argmax()) for nucleus in nuclei} - {0}) == 4
    # without the second split the one piece is too large to be a nucleus and is dropped
    assert not _detect(image, max_area_um2=150.0, clump_split_contrast=1.0).any()


@pytest.mark.parametrize("field", ["split_shape_weight", "clump_split_contrast"])
def test_negative_split_options_are_refused(field):
    with pytest.raises(ValueError, match=f"{field} must be >= 0"):
        NucleusOptions(**{field: -0.1})
