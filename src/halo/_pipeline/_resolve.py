"""Step 1 of a segmentation: resolve its inputs in the SpatialData object, before any work."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import io as hio
from .._tiling import SlideGrid
from ._options import SegmentOptions

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """A segmentation's inputs: vendor defaults applied, elements found, coordinates mapped, filters set."""

    image: hio.NuclearImage
    points_key: str
    to_pixels: np.ndarray
    """3x3 affine from the transcripts' coordinates to the image's pixels."""
    grid: SlideGrid
    """The image's pixels and the working grid (``grid.um_per_px``: given, or from ``to_pixels``)."""
    transcripts: hio.TranscriptFilter
    """Which transcripts count, and how they map into pixels."""
    control_pattern: str | None
    """The control pattern in force (a vendor's own where the option was left at its default)."""
    names: hio.SegmentationNames


def resolve_inputs(sdata: SpatialData, options: SegmentOptions) -> Inputs:
    """Find the image, channel and transcripts, map them, and check that the results can be written."""
    hio.check_sdata(sdata)
    names = hio.SegmentationNames.of(options.key_added)
    hio.check_writable(sdata, {names.boundaries: "shapes", names.nuclei: "shapes", names.table: "tables"})
    hio.recover_interrupted_write(sdata)  # a killed earlier run: finish or undo it before reading anything
    image_key, points_key, channel, control_pattern, um_per_px = hio.vendor_options(
        sdata, image_key=options.image_key, points_key=options.points_key, channel=options.channel,
        control_pattern=options.control_pattern, um_per_px=options.um_per_px,
    )  # fmt: skip
    image = hio.get_nuclear_image(sdata, image_key=image_key, channel=channel)
    hio.check_image_size(image.key, image.data.shape)
    points_key = hio.find_points_key(sdata, points_key)
    names = hio.SegmentationNames.of(options.key_added, points_key)
    hio.check_outputs_are_halos(sdata, names)
    to_pixels = hio.affine_between(sdata, points_key, image.key)
    if um_per_px is None:
        um_per_px = hio.pixel_size_um(to_pixels)
    options.check_tile_pixels(um_per_px)
    grid = SlideGrid.of(image.data.shape, um_per_px)
    logger.info("image %r channel %r, %s px at %.4g um/px", image.key, image.channel, grid.shape, um_per_px)
    keep = hio.TranscriptFilter.of(
        sdata.points[points_key], points_key, to_pixels, control_pattern=control_pattern, min_qv=options.min_qv
    )
    return Inputs(image, points_key, to_pixels, grid, keep, control_pattern, names)
