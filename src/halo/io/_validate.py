"""Checks of a segmentation's inputs in the SpatialData object, run before any work or write.

Every error names the element, says what is wrong, and what to do instead. The options themselves are checked by
:class:`halo.tl.SegmentOptions`.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from ._segmentation import SegmentationNames, SegmentationWarning, written_by_halo

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

#: Share of kept transcripts outside the image above which halo warns that the registration may be off.
OUTSIDE_WARNING_SHARE = 0.05


def find_stacklevel() -> int:
    """The stack level of the first frame outside halo: warnings point at the user's call."""
    import inspect
    from pathlib import Path

    package = str(Path(__file__).resolve().parents[1])
    level, frame = 0, inspect.currentframe()
    while frame is not None and frame.f_code.co_filename.startswith(package):
        level += 1
        frame = frame.f_back
    return level


def check_sdata(sdata: Any) -> None:
    """Check that the first argument is a SpatialData."""
    from spatialdata import SpatialData

    if not isinstance(sdata, SpatialData):
        msg = (
            f"halo.tl.segment expects a spatialdata.SpatialData, got {type(sdata).__name__}. Read your data with "
            "spatialdata_io (e.g. spatialdata_io.xenium(path)) or spatialdata.read_zarr(path) first."
        )
        raise TypeError(msg)


def check_image_size(image_key: str, shape: tuple[int, ...]) -> None:
    """Refuse an image with no pixels."""
    if min(shape) == 0:
        msg = f"Image {image_key!r} has shape {tuple(shape)} (y, x): it has no pixels. Pass another `image_key=`."
        raise ValueError(msg)


def check_outputs_are_halos(sdata: SpatialData, names: SegmentationNames) -> None:
    """Refuse to replace anything halo did not write for this ``key_added``, or that another table depends on.

    A previous halo result is recognised by its table: ``names.table`` with ``uns["halo"]`` recording the same
    element names. Without it, an existing element of a planned name (e.g. Xenium's ``cell_boundaries`` for
    ``key_added="cell"``) or a points column of the assignment's name belongs to the user and is left alone.
    """
    table_name, shape_names = names.table, (names.boundaries, names.nuclei)
    previous = sdata.tables.get(table_name)
    ours = previous is not None and written_by_halo(previous, names)
    hint = "Pass another `key_added=`, or delete or rename that element if it is no longer needed."
    if previous is not None and not ours:
        msg = f"Table {table_name!r} exists and was not written by halo with key_added for these names; {hint}"
        raise ValueError(msg)
    if not ours:
        for name in shape_names:
            if name in sdata.shapes:
                msg = f"Shapes {name!r} exist and were not written by halo (no table {table_name!r} of halo's); {hint}"
                raise ValueError(msg)
        column = names.assignment_column
        if column in sdata.points[names.points].columns:
            msg = (
                f"Points {names.points!r} already have a column {column!r} that halo did not write; halo would "
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
        msg = (
            f"Points {points_key!r} have no transcript left to count (empty, or all dropped by `control_pattern=` "
            "and `min_qv=`): cells are drawn from the nuclei alone and have zero counts."
        )
        warnings.warn(msg, SegmentationWarning, stacklevel=find_stacklevel())
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
        msg = (
            f"{100 * share_outside:.1f}% of the transcripts of {points_key!r} ({n_outside} of {n_kept}) fall outside "
            f"image {image_key!r} and are left unassigned; check the two elements' transformations (and "
            "`um_per_px=`) if the image should cover them."
        )
        warnings.warn(msg, SegmentationWarning, stacklevel=find_stacklevel())
