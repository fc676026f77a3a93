"""Sanity checks on every run: a warning with the numbers and the likely fix where an input or a result looks wrong.

Each rule is one threshold, written here and in ``docs/bad_input.md``; none of them stops a run.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import io as hio
from ._plan import Plan
from ._resolve import Inputs
from ._run import Outcome

FLAT_CONTRAST = 0.25
"""A nuclear stain whose 1st percentile is above this share of its 99.9th shows no nuclei against the background."""
SATURATED_SHARE = 0.05
"""Share of the image's pixels at its type's largest value above which the stain is saturated."""
IDENTITY_SIDE_PX = 2000
"""An identity transcripts-to-image mapping on an image this large (vendor-sized) means the points are in pixels."""
NUCLEUS_AREA_UM2 = (10.0, 200.0)
"""Plausible median nucleus area; outside it, the pixel size is likely wrong."""
MIN_ASSIGNED_SHARE = 0.2
"""Share of the kept transcripts in cells below which most of the tissue's RNA went unassigned."""
OCCUPIED_MIN_TRANSCRIPTS = 2
"""Kept transcripts that make a bin count as tissue."""
GENEROUS_CELL_AREA_UM2 = 200.0
"""Area of a large cell: tissue of ``n`` such areas holds at least about ``n`` cells."""
MIN_CELLS_SHARE = 0.25
"""Fewer cells than this share of the tissue area over :data:`GENEROUS_CELL_AREA_UM2` is implausible."""


def check_inputs(inputs: Inputs, plan: Plan, options) -> None:
    """The nuclear image and the pixel size, before the tiles run."""
    try:
        _check_stain(plan.slide.stain, f"Image {inputs.image.key!r} channel {inputs.image.channel!r}")
    except ValueError:  # no finite pixel: a run that reads the image has refused it already; one that doesn't may go
        pass
    identity = np.allclose(inputs.to_pixels, np.eye(3))
    if identity and options.um_per_px is None and max(inputs.grid.shape) >= IDENTITY_SIDE_PX:
        _warn(
            f"The transcripts of {inputs.points_key!r} map onto image {inputs.image.key!r} with an identity "
            f"transformation, so halo reads them as micrometres and the image as {inputs.grid.um_per_px:.4g} um "
            f"per pixel; on an image of {inputs.grid.shape[1]} x {inputs.grid.shape[0]} px that is unlikely (vendor "
            "images have 0.1-0.5 um pixels). Pass the pixel size as `um_per_px=` (e.g. 0.2125 for Xenium), or give "
            "the points their micrometres-to-pixels transformation."
        )


def _check_stain(stain, image: str) -> None:
    if stain.saturated > SATURATED_SHARE:
        _warn(
            f"{image} is saturated: {stain.saturated:.0%} of its pixels are at the largest value of its type, so "
            "touching nuclei merge and bright ones lose their shape. Use an exposure that leaves the nuclei below "
            "the maximum, or another image (`image_key=`, `channel=`)."
        )
    if stain.high <= 0 or stain.low > FLAT_CONTRAST * stain.high:
        _warn(
            f"{image} is nearly flat: its 1st and 99.9th percentiles are {stain.low:.4g} and {stain.high:.4g}, so "
            "no nucleus stands out from the background and few cells will be found. Check that this is the nuclear "
            "stain (`image_key=`, `channel=`) and that it is not saturated or empty."
        )


def check_results(inputs: Inputs, plan: Plan, outcome: Outcome) -> None:
    """Cells, assignment and nucleus sizes, once the tiles are stitched."""
    stitched, transcripts, um = outcome.stitched, plan.transcripts, inputs.grid.um_per_px
    nucleus_area = stitched.per_cell["nucleus_area_px"] * um**2
    median_nucleus = float(np.median(nucleus_area[nucleus_area > 0])) if (nucleus_area > 0).any() else float("nan")
    low, high = NUCLEUS_AREA_UM2
    if np.isfinite(median_nucleus) and not low <= median_nucleus <= high:
        _warn(
            f"The median nucleus covers {median_nucleus:.3g} um^2 at {um:.4g} um per pixel, far from the "
            f"{low:g}-{high:g} um^2 of real nuclei: the pixel size is likely wrong. Pass `um_per_px=` or check "
            "the transcripts-to-image transformation."
        )
    kept = transcripts.n_kept
    if kept and outcome.n_assigned < MIN_ASSIGNED_SHARE * kept:
        _warn(
            f"Only {outcome.n_assigned / kept:.1%} of the {kept} kept transcripts lie in a cell. If the tissue has "
            "more cells than were found, check the nuclear image (`image_key=`, `channel=`) and "
            "`nucleus_options`; if the cells are larger than their reach, raise `max_reach_um` / `expansion_um`."
        )
    occupancy = plan.occupancy
    tissue_um2 = float((occupancy.counts >= OCCUPIED_MIN_TRANSCRIPTS).sum()) * (occupancy.bin_px * um) ** 2
    expected = tissue_um2 / GENEROUS_CELL_AREA_UM2
    if stitched.n_cells < MIN_CELLS_SHARE * expected:
        _warn(
            f"Found {stitched.n_cells} cells, where the transcripts cover about {tissue_um2:.3g} um^2 of tissue: "
            f"room for {expected:.0f} cells of {GENEROUS_CELL_AREA_UM2:g} um^2. Unless the cells here are "
            "unusually large, most nuclei were missed: check the nuclear image (`image_key=`, `channel=`) and "
            "`nucleus_options` (e.g. a lower `threshold`)."
        )


def _warn(message: str) -> None:
    warnings.warn(message, hio.SegmentationWarning, stacklevel=hio.find_stacklevel())
