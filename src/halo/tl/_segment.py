"""``halo.tl.segment``: whole-cell segmentation of a SpatialData object, tile by tile."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._pipeline import (
    SegmentOptions,
    check_inputs,
    check_results,
    parameters_section,
    plan_run,
    resolve_inputs,
    run_plan,
    scratch_folder,
    write_results,
)

if TYPE_CHECKING:
    from spatialdata import SpatialData

    from ..io import SegmentationNames
    from ..methods import NucleusOptions

logger = logging.getLogger(__name__)

_DEFAULT = SegmentOptions()  # the one place every default is written


def segment(
    sdata: SpatialData,
    *,
    image_key: str | None = _DEFAULT.image_key,
    points_key: str | None = _DEFAULT.points_key,
    channel: str | int | None = _DEFAULT.channel,
    method: str = _DEFAULT.method,
    nuclei_key: str | None = _DEFAULT.nuclei_key,
    nuclei_source: str = _DEFAULT.nuclei_source,
    expansion_um: float = _DEFAULT.expansion_um,
    max_reach_um: float = _DEFAULT.max_reach_um,
    weights: str | None = _DEFAULT.weights,
    device: str | None = _DEFAULT.device,
    tile_um: float = _DEFAULT.tile_um,
    overlap_um: float | None = _DEFAULT.overlap_um,
    control_pattern: str | None = _DEFAULT.control_pattern,
    min_qv: float | None = _DEFAULT.min_qv,
    um_per_px: float | None = _DEFAULT.um_per_px,
    nucleus_options: NucleusOptions | Mapping[str, Any] | None = None,
    key_added: str = _DEFAULT.key_added,
    scratch_dir: str | os.PathLike | None = _DEFAULT.scratch_dir,
    client: Any = _DEFAULT.client,
    progress: bool = _DEFAULT.progress,
) -> SegmentationNames:
    options = SegmentOptions(
        image_key=image_key, points_key=points_key, channel=channel, method=method, nuclei_key=nuclei_key,
        nuclei_source=nuclei_source, expansion_um=expansion_um, max_reach_um=max_reach_um, weights=weights,
        device=device, tile_um=tile_um, overlap_um=overlap_um, control_pattern=control_pattern, min_qv=min_qv,
        um_per_px=um_per_px, nucleus_options=nucleus_options, key_added=key_added, scratch_dir=scratch_dir,
        client=client, progress=progress,
    )  # fmt: skip
    return segment_with(sdata, options)


def segment_with(sdata: SpatialData, options: SegmentOptions | Mapping[str, Any]) -> SegmentationNames:
    """:func:`segment` with its options as one :class:`SegmentOptions` (or a mapping of its fields).

    Parameters
    ----------
    sdata
        As for :func:`segment`.
    options
        The options; fields left out of a mapping keep their defaults.

    Returns
    -------
    The names written, as :func:`segment` returns them.
    """
    start = time.perf_counter()
    options = SegmentOptions.from_any(options)
    inputs = resolve_inputs(sdata, options)
    with scratch_folder(options.scratch_dir) as scratch:
        plan = plan_run(sdata, inputs, options, scratch, start=start)
        check_inputs(inputs, plan, options)
        outcome = run_plan(plan, options, scratch)
        check_results(inputs, plan, outcome)
        names = write_results(sdata, inputs, plan, outcome, options)
    area = outcome.stitched.per_cell["area_px"] * inputs.grid.um_per_px**2
    logger.info(
        "segmented %d cells under key_added=%r: %.1f%% of %d kept transcripts assigned, median cell area %.0f um2, "
        "%.1f s", outcome.stitched.n_cells, names.key_added, 100 * outcome.n_assigned / max(plan.transcripts.n_kept, 1),
        plan.transcripts.n_kept, float(np.median(area)), time.perf_counter() - start,
    )  # fmt: skip
    return names


segment.__doc__ = f"""Segment whole cells from the nuclear image and the transcripts, and write them into ``sdata``.

    The slide is cut into tiles of ``tile_um`` that are read with ``overlap_um / 2`` of context on each side and
    processed in parallel with dask. Each cell is kept by the one tile whose core holds its nucleus, and each
    transcript is counted by the one tile whose core holds it, so no cell is cut or duplicated at a seam and no
    transcript is counted twice; the result does not depend on the tile size. Every option is a field of
    :class:`SegmentOptions` (:func:`segment_with` takes them as one object).

    Parameters
    ----------
    sdata
        SpatialData with a nuclear image and a points element of transcripts (in micrometres unless
        ``um_per_px`` is given).
    {parameters_section().replace(chr(10), chr(10) + "    ")}

    Returns
    -------
    The :class:`~halo.io.SegmentationNames` written (``.boundaries``, ``.nuclei``, ``.table``, ``.points`` and its
    ``.assignment_column``). ``sdata`` gains, and when backed by zarr persists (earlier results of the same
    ``key_added`` are replaced only once the new ones are complete, and a run killed while writing is finished or
    undone by the next run or by :func:`halo.io.recover_interrupted_write`; elements halo did not write are never
    replaced; see ``docs/bad_input.md``):

    - ``sdata.shapes[f"{{key_added}}_boundaries"]``: one valid Polygon per cell, indexed by ``cell_id`` (1..n), in the
      nuclear image's pixel space with its transformations. Outlines run through the midpoints of the cell's pixel
      edges on the working grid, simplified within 0.35 pixel along the arcs neighbours share: cells neither
      overlap nor leave gaps between them, and the centre of every working-grid pixel of a cell (the pixel that
      decides a transcript's cell) lies inside its polygon.
    - ``sdata.shapes[f"{{key_added}}_nuclei"]``: the nucleus of each cell, same index, drawn alike (inside its cell).
    - ``sdata.tables[f"{{key_added}}_table"]``: cells x genes (in the order of the gene column's categories when they
      are known, as in memory; sorted by name when they are not, as read from zarr), sparse int32 counts in ``X``
      and ``layers["counts"]``;
      ``obs``: ``cell_id``, ``region``, ``area_um2``, ``perimeter_um``, ``elongation``, ``solidity``,
      ``nucleus_area_um2``, ``transcript_count`` and, with ``method="halo"``, ``confidence`` (mean predicted cell
      probability away from boundaries, 0-1); ``obsm["spatial"]``: centroids in image pixels;
      ``uns["halo"]``: parameters, element names, versions, timings and counts (``summary``). Linked to the
      boundaries by ``TableModel``.
    - ``sdata.points[points_key][f"{{key_added}}_cell_id"]``: the cell of each transcript, 0 for none (also for
      dropped control and low-quality transcripts).
    """
