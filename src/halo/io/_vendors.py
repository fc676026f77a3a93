"""What each vendor reader of spatialdata-io returns, and the segmentation defaults that follow from it.

``spatialdata_io.xenium``, ``merscope`` and ``cosmx`` (0.7.1) name their elements and lay out their coordinate
systems differently; they record themselves in ``sdata.attrs["spatialdata_io_reader"]``. From that, halo picks the
nuclear image and channel, the transcripts, the control-probe names and, where the transcripts are not in
micrometres, the pixel size. Anything passed explicitly wins.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ._transcripts import DEFAULT_CONTROL_PATTERN

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

READER_ATTR = "spatialdata_io_reader"


@dataclass(frozen=True)
class VendorDefaults:
    """Segmentation defaults for the output of one spatialdata-io reader."""

    name: str
    """The reader, as recorded in ``sdata.attrs["spatialdata_io_reader"]``."""
    image_pattern: str
    """Full-match regular expression of the nuclear image's name; group ``fov`` (CosMx) or ``z`` (MERSCOPE)."""
    points_pattern: str
    """Full-match regular expression of the transcripts' name; group ``fov`` for per-FOV points."""
    channel: str | int
    """Nuclear channel: name, or index when the reader leaves channels unnamed."""
    control_pattern: str
    """Control, blank and unassigned probe names (full match, case-insensitive)."""
    um_per_px: float | None = None
    """Micrometres per image pixel when the transcripts are in pixels (else derived from the transformations)."""


VENDORS: dict[str, VendorDefaults] = {
    # image morphology_focus (DAPI first; morphology_mip also has DAPI on XOA 1.x), points in microns
    "xenium": VendorDefaults(
        name="xenium",
        image_pattern=r"morphology_focus",
        points_pattern=r"transcripts",
        channel="DAPI",
        control_pattern=(
            r"negcontrol(probe|codeword)_.*|blank_.*|unassignedcodeword_.*|deprecatedcodeword_.*|intergenic.*|antisense.*"
        ),
    ),
    # images {slide}_{region}_z{z} with stains named by file (DAPI, PolyT, Cellbound...), points in microns
    "merscope": VendorDefaults(
        name="merscope",
        image_pattern=r".+_z(?P<z>\d+)",
        points_pattern=r".+_transcripts",
        channel="DAPI",
        control_pattern=r"blank-.*",
    ),
    # per FOV: RGB composite {fov}_image (nuclear stain in blue), points {fov}_points in local pixels
    "cosmx": VendorDefaults(
        name="cosmx",
        image_pattern=r"(?P<fov>\d+)_image",
        points_pattern=r"(?P<fov>\d+)_points",
        channel=2,
        control_pattern=r"negprb.*|negative.*|systemcontrol.*|falsecode.*",
        um_per_px=0.12028,
    ),
}


@dataclass(frozen=True)
class FieldOfView:
    """One field of view of a per-FOV object (CosMx): its number, nuclear image and transcripts."""

    fov: str
    image_key: str
    points_key: str


def detect_vendor(sdata: SpatialData) -> VendorDefaults | None:
    """Return the defaults of the spatialdata-io reader that made ``sdata``, or ``None`` for other objects."""
    reader = sdata.attrs.get(READER_ATTR) if hasattr(sdata, "attrs") else None
    return VENDORS.get(str(reader).lower()) if reader is not None else None


def fields_of_view(sdata: SpatialData) -> list[FieldOfView]:
    """Fields of view that have both a nuclear image and transcripts, by FOV number (CosMx; empty otherwise)."""
    vendor = detect_vendor(sdata)
    if vendor is None or "(?P<fov>" not in vendor.image_pattern:
        return []
    images = _by_group(sdata.images, vendor.image_pattern, "fov")
    points = _by_group(sdata.points, vendor.points_pattern, "fov")
    common = sorted(set(images) & set(points), key=lambda f: (len(f), f))
    return [FieldOfView(fov=f, image_key=images[f], points_key=points[f]) for f in common]


def _by_group(elements, pattern: str, group: str) -> dict[str, str]:
    found = {}
    for key in elements:
        match = re.fullmatch(pattern, key)
        if match:
            found[match.group(group)] = key
    return found


class InputOptions(NamedTuple):
    """The options of :func:`halo.tl.segment` that say which inputs to read and how."""

    image_key: str | None
    points_key: str | None
    channel: str | int | None
    control_pattern: str | None
    um_per_px: float | None


def vendor_options(
    sdata: SpatialData,
    *,
    image_key: str | None,
    points_key: str | None,
    channel: str | int | None,
    control_pattern: str | None,
    um_per_px: float | None,
) -> InputOptions:
    """Fill the options of :func:`halo.tl.segment` left at their defaults from the vendor reader that made ``sdata``.

    Parameters
    ----------
    sdata
        The SpatialData object.
    image_key, points_key, channel, control_pattern, um_per_px
        As passed to :func:`halo.tl.segment`; ``None`` (``DEFAULT_CONTROL_PATTERN`` for ``control_pattern``) means
        "not chosen".

    Returns
    -------
    :class:`InputOptions`: the same five options, with the vendor's defaults where none was chosen; unchanged
    for objects not made by a known reader.
    """
    options = {
        "image_key": image_key,
        "points_key": points_key,
        "channel": channel,
        "control_pattern": control_pattern,
        "um_per_px": um_per_px,
    }
    vendor = detect_vendor(sdata)
    if vendor is None:
        return InputOptions(**options)
    if control_pattern == DEFAULT_CONTROL_PATTERN:
        options["control_pattern"] = vendor.control_pattern
    if vendor.name == "cosmx":
        options.update(_cosmx_keys(sdata, image_key, points_key))
    else:
        if image_key is None:
            options["image_key"] = _single_image(sdata, vendor)
        if points_key is None:
            options["points_key"] = _single_points(sdata, vendor)
    chosen = options["image_key"]
    if channel is None and chosen is not None and re.fullmatch(vendor.image_pattern, chosen):
        options["channel"] = vendor.channel
    if um_per_px is None:
        options["um_per_px"] = vendor.um_per_px
    logger.info("%s defaults: %s", vendor.name, {k: v for k, v in options.items() if v is not None})
    return InputOptions(**options)


def _single_image(sdata: SpatialData, vendor: VendorDefaults) -> str | None:
    """Choose the vendor's nuclear image; for several z-planes (MERSCOPE), the middle one."""
    matches = [key for key in sdata.images if re.fullmatch(vendor.image_pattern, key)]
    if not matches:
        return None  # let the generic search report what is there
    if len(matches) > 1 and vendor.name == "merscope":
        by_z = sorted(matches, key=lambda k: int(re.fullmatch(vendor.image_pattern, k).group("z")))
        chosen = by_z[(len(by_z) - 1) // 2]
        logger.info("MERSCOPE z-planes %s: segmenting the middle one, %r (pass image_key= for another)", by_z, chosen)
        return chosen
    return matches[0] if len(matches) == 1 else None


def _single_points(sdata: SpatialData, vendor: VendorDefaults) -> str | None:
    matches = [key for key in sdata.points if re.fullmatch(vendor.points_pattern, key)]
    return matches[0] if len(matches) == 1 else None


def _cosmx_keys(sdata: SpatialData, image_key: str | None, points_key: str | None) -> dict:
    """Image and points of one CosMx FOV: the one named, the one whose partner is named, or the only one."""
    fovs = fields_of_view(sdata)
    if image_key is not None or points_key is not None:
        for fov in fovs:
            if image_key in (None, fov.image_key) and points_key in (None, fov.points_key):
                return {"image_key": fov.image_key, "points_key": fov.points_key}
        return {}  # keys of another kind: checked later with the generic errors
    if len(fovs) == 1:
        return {"image_key": fovs[0].image_key, "points_key": fovs[0].points_key}
    if len(fovs) > 1:
        msg = (
            f"This CosMx object has {len(fovs)} fields of view ({[f.fov for f in fovs]}); segment them all with "
            f"halo.tl.segment_fovs(sdata) (command line: halo segment --per-fov), or one with "
            f"image_key={fovs[0].image_key!r}."
        )
        raise ValueError(msg)
    return {}
