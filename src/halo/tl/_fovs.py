"""``halo.tl.segment_fovs``: segment every field of view of a per-FOV object (CosMx) on its own."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import io as hio
from ._segment import segment

if TYPE_CHECKING:
    from spatialdata import SpatialData

    from ..io import SegmentationNames

logger = logging.getLogger(__name__)


def segment_fovs(
    sdata: SpatialData,
    *,
    fovs: Sequence[str | int] | None = None,
    key_added: str = "halo",
    progress: bool = True,
    **kwargs: Any,
) -> list[SegmentationNames]:
    """Segment each field of view of a CosMx object with :func:`halo.tl.segment`, one after another.

    ``spatialdata_io.cosmx`` gives every FOV its own image ``{fov}_image``, transcripts ``{fov}_points`` (local
    pixels) and coordinate system ``"{fov}"``, plus a fitted affine to ``"global"``. Each FOV is segmented in its own
    pixels; its results carry the image's transformations, so they appear in the FOV's coordinate system and in
    ``"global"``.

    Parameters
    ----------
    sdata
        SpatialData from ``spatialdata_io.cosmx``.
    fovs
        FOV numbers to segment; all that have both an image and transcripts when ``None``.
    key_added
        Prefix; FOV ``f`` is written under ``f"{key_added}_{f}"``.
    progress
        Show a progress bar over the FOVs.
    **kwargs
        Further options of :func:`halo.tl.segment` (not ``image_key``, ``points_key`` or ``key_added``).

    Returns
    -------
    The :class:`~halo.io.SegmentationNames` of each FOV, in order, as :func:`halo.tl.segment` returns them: e.g.
    ``sdata.shapes["halo_1_boundaries"]``, ``sdata.tables["halo_1_table"]`` and the column ``"halo_1_cell_id"`` of
    ``sdata.points["1_points"]`` for FOV 1; ``anndata.concat`` joins the tables.
    """
    from tqdm.auto import tqdm

    clash = {"image_key", "points_key", "key_added"} & set(kwargs)
    if clash:
        msg = f"segment_fovs chooses {sorted(clash)} per field of view; do not pass them."
        raise TypeError(msg)
    available = {f.fov: f for f in hio.fields_of_view(sdata)}
    if not available:
        msg = (
            "No fields of view found: segment_fovs needs an object from spatialdata_io.cosmx (images '{fov}_image' and "
            "points '{fov}_points'); use halo.tl.segment for other objects."
        )
        raise ValueError(msg)
    wanted = list(available) if fovs is None else [str(f) for f in fovs]
    missing = [f for f in wanted if f not in available]
    if missing:
        msg = f"No image and transcripts for FOV(s) {missing}; the FOVs are {list(available)}."
        raise KeyError(msg)
    written = []
    for fov in tqdm(wanted, desc="halo FOVs", disable=not progress):
        field = available[fov]
        written.append(
            segment(
                sdata, image_key=field.image_key, points_key=field.points_key, key_added=f"{key_added}_{fov}",
                progress=False, **kwargs,
            )
        )  # fmt: skip
    logger.info("segmented %d fields of view: %s", len(written), [names.key_added for names in written])
    return written
