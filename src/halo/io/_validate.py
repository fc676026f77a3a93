"""Checks of ``halo.tl.segment``'s arguments and inputs, run before any work or write.

Every error names the argument or element, says what is wrong, and what to do instead.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

#: Share of kept transcripts outside the image above which halo warns that the registration may be off.
OUTSIDE_WARNING_SHARE = 0.05


def check_sdata(sdata: Any) -> None:
    """Check that the first argument is a SpatialData."""
    from spatialdata import SpatialData

    if not isinstance(sdata, SpatialData):
        msg = (
            f"halo.tl.segment expects a spatialdata.SpatialData, got {type(sdata).__name__}. Read your data with "
            "spatialdata_io (e.g. spatialdata_io.xenium(path)) or spatialdata.read_zarr(path) first."
        )
        raise TypeError(msg)


def check_number(name: str, value: Any, *, minimum: float | None = None, strict: bool = False, optional: bool = False):
    """Check for a finite real number (not a bool or a string), at least (with ``strict``, above) ``minimum``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Real):
        kind = "a number or None" if optional else "a number"
        msg = f"{name} must be {kind}, got {value!r} of type {type(value).__name__}."
        raise TypeError(msg)
    if not math.isfinite(value):
        msg = f"{name} must be a finite number, got {value!r}."
        raise ValueError(msg)
    if minimum is not None and (value <= minimum if strict else value < minimum):
        bound = "positive" if strict and minimum == 0 else f"{'>' if strict else '>='} {minimum}"
        msg = f"{name} must be {bound}, got {value!r}."
        raise ValueError(msg)


def check_optional_str(name: str, value: Any) -> None:
    """Check for ``None`` or an element name."""
    if value is not None and not isinstance(value, str):
        msg = f"{name} must be an element name (str) or None, got {value!r} of type {type(value).__name__}."
        raise TypeError(msg)


def check_parameters(
    *,
    image_key: Any,
    points_key: Any,
    nuclei_key: Any,
    channel: Any,
    expansion_um: Any,
    max_reach_um: Any,
    tile_um: Any,
    overlap_um: Any,
    control_pattern: Any,
    min_qv: Any,
    um_per_px: Any,
    nucleus_options: Any,
    progress: Any,
    scratch_dir: Any = None,
    client: Any = None,
) -> None:
    """Check the types and ranges of ``segment``'s arguments (their geometric relations are checked apart)."""
    for name, value in (("image_key", image_key), ("points_key", points_key), ("nuclei_key", nuclei_key)):
        check_optional_str(name, value)
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, (str, int, np.integer))):
        msg = f"channel must be a channel name (str), an index (int) or None, got {channel!r}."
        raise TypeError(msg)
    check_number("expansion_um", expansion_um, minimum=0)
    check_number("max_reach_um", max_reach_um, minimum=0, strict=True)
    check_number("tile_um", tile_um, minimum=0, strict=True)
    check_number("overlap_um", overlap_um, minimum=0, optional=True)
    check_number("min_qv", min_qv, optional=True)
    check_number("um_per_px", um_per_px, minimum=0, strict=True, optional=True)
    if control_pattern is not None:
        if not isinstance(control_pattern, str):
            msg = f"control_pattern must be a regular expression (str) or None, got {control_pattern!r}."
            raise TypeError(msg)
        try:
            re.compile(control_pattern)
        except re.error as error:
            msg = f"control_pattern={control_pattern!r} is not a valid regular expression ({error})."
            raise ValueError(msg) from error
    from ..methods import NucleusOptions

    if nucleus_options is not None and not isinstance(nucleus_options, (NucleusOptions, Mapping)):
        msg = (
            "nucleus_options must be a halo.methods.NucleusOptions, a mapping of its fields or None, "
            f"got {type(nucleus_options).__name__}."
        )
        raise TypeError(msg)
    if not isinstance(progress, bool):
        msg = f"progress must be True or False, got {progress!r}."
        raise TypeError(msg)
    if scratch_dir is not None and not Path(scratch_dir).is_dir():
        msg = f"scratch_dir={str(scratch_dir)!r} is not an existing folder; create it or pass None (the system's)."
        raise ValueError(msg)
    if client is not None and client != "local" and not (hasattr(client, "compute") and hasattr(client, "gather")):
        msg = f"client must be a dask.distributed Client, 'local' or None, got {type(client).__name__}."
        raise TypeError(msg)


def check_image_size(image_key: str, shape: tuple[int, ...]) -> None:
    """Refuse an image with no pixels."""
    if min(shape) == 0:
        msg = f"Image {image_key!r} has shape {tuple(shape)} (y, x): it has no pixels. Pass another `image_key=`."
        raise ValueError(msg)


def check_outputs_are_halos(sdata: SpatialData, names: dict[str, str], points_key: str) -> None:
    """Refuse to replace anything halo did not write for this ``key_added``, or that another table depends on.

    A previous halo result is recognised by its table: ``names["table"]`` with ``uns["halo"]`` recording the same
    element names. Without it, an existing element of a planned name (e.g. Xenium's ``cell_boundaries`` for
    ``key_added="cell"``) or a points column of the assignment's name belongs to the user and is left alone.
    """
    table_name, shape_names = names["table"], (names["boundaries"], names["nuclei"])
    previous = sdata.tables.get(table_name)
    ours = previous is not None and _written_by_halo(previous, names)
    hint = "Pass another `key_added=`, or delete or rename that element if it is no longer needed."
    if previous is not None and not ours:
        msg = f"Table {table_name!r} exists and was not written by halo with key_added for these names; {hint}"
        raise ValueError(msg)
    if not ours:
        for name in shape_names:
            if name in sdata.shapes:
                msg = f"Shapes {name!r} exist and were not written by halo (no table {table_name!r} of halo's); {hint}"
                raise ValueError(msg)
        column = names["assignment_column"]
        if column in sdata.points[points_key].columns:
            msg = (
                f"Points {points_key!r} already have a column {column!r} that halo did not write; halo would "
                f"overwrite it. {hint}"
            )
            raise ValueError(msg)
    for other, table in sdata.tables.items():
        if other == table_name:
            continue
        regions = _annotated_regions(table)
        linked = sorted(set(shape_names) & regions)
        if linked:
            msg = (
                f"Table {other!r} annotates {linked}; replacing them would silently break that table's cell ids. {hint}"
            )
            raise ValueError(msg)


def _written_by_halo(table, names: dict[str, str]) -> bool:
    record = table.uns.get("halo")
    if not isinstance(record, Mapping):
        return False
    elements = record.get("elements", {})
    return all(elements.get(key) == value for key, value in names.items())


def _annotated_regions(table) -> set[str]:
    region = table.uns.get("spatialdata_attrs", {}).get("region")
    if region is None:
        return set()
    return {region} if isinstance(region, str) else {str(r) for r in region}


def check_transcripts_on_image(points_key: str, image_key: str, n_inside: int, n_outside: int, slide_shape) -> None:
    """Kept transcripts must fall on the image; a registration error would otherwise give empty cells silently.

    ``n_inside`` and ``n_outside`` count the kept transcripts (not controls, low quality or invalid) on and off it.
    """
    n_kept = n_inside + n_outside
    if n_kept == 0:
        logger.warning(
            "points %r have no transcript left to count (empty, or all dropped by the filters): "
            "cells are drawn from the nuclei alone and have zero counts.",
            points_key,
        )
        return
    if n_inside == 0:
        msg = (
            f"None of the {n_kept} transcripts of points {points_key!r} falls on image {image_key!r} "
            f"({slide_shape[1]} x {slide_shape[0]} px) after mapping them through the transformations. Check the two "
            "elements' transformations (and `um_per_px=`), or pass the matching `image_key=` / `points_key=`."
        )
        raise ValueError(msg)
    share_outside = n_outside / n_kept
    if share_outside > OUTSIDE_WARNING_SHARE:
        logger.warning(
            "%.1f%% of the transcripts of %r fall outside image %r and are left unassigned; "
            "check the transformations if the image should cover them.",
            100 * share_outside, points_key, image_key,
        )  # fmt: skip


#: A tile core narrower than this many pixels means the pixel size is wrong, and would make millions of tiles.
MIN_TILE_PX = 32


def check_tile_pixels(tile_um: float, um_per_px: float) -> None:
    """Check that a tile spans a sensible number of pixels at the image's pixel size."""
    if tile_um / um_per_px < MIN_TILE_PX:
        msg = (
            f"tile_um={tile_um} is only {tile_um / um_per_px:.3g} pixels at {um_per_px:.4g} um per pixel; a tile must "
            f"span at least {MIN_TILE_PX} pixels. Check `um_per_px=` (or the transcripts-to-image transformation, "
            "which halo reads as micrometres to pixels), or pass a larger `tile_um=`."
        )
        raise ValueError(msg)


def check_nucleus_options(options) -> None:
    """Check that every numeric nucleus option is finite (an infinite size would demand an infinite tile overlap)."""
    from dataclasses import fields

    for field in fields(options):
        value = getattr(options, field.name)
        if value is not None:
            check_number(f"nucleus_options[{field.name!r}]", value)
