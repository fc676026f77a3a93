"""``halo.pl.compare``: two (or more) segmentations of the same field side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..io import read_segmentation
from ._common import Box
from ._segmentation import segmentation

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from spatialdata import SpatialData


def compare(
    sdata: SpatialData,
    *,
    keys: Sequence[str] = ("halo", "expansion"),
    region: Box | None = None,
    region_units: Literal["px", "um"] = "px",
    panel_size: float = 5.0,
    fig: Figure | None = None,
    **kwargs: Any,
) -> Figure:
    """Draw several segmentations of the same field side by side, on shared axes.

    Each panel is :func:`halo.pl.segmentation` of one ``key_added``, titled with its number of cells in view and
    its median cell area and transcripts per cell over the whole segmentation.

    Parameters
    ----------
    sdata
        SpatialData segmented by :func:`halo.tl.segment` once per key.
    keys
        The ``key_added`` of each segmentation, one panel each, left to right.
    region
        Box ``(x0, y0, x1, y1)`` shown in every panel; the whole image when ``None``.
    region_units
        ``"px"`` (image pixels) or ``"um"`` (the transcripts' micrometres).
    panel_size
        Width of one panel, in inches.
    fig
        Figure to draw into (cleared first); a new one when ``None``.
    **kwargs
        Passed to :func:`halo.pl.segmentation` (e.g. ``genes=``, ``color=``, ``show_nuclei=``).

    Returns
    -------
    The matplotlib Figure, with one Axes per key.
    """
    import matplotlib.pyplot as plt

    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys:
        msg = "keys is empty; give the key_added of at least one segmentation."
        raise ValueError(msg)
    segs = [read_segmentation(sdata, key) for key in keys]  # fail before drawing anything
    images = {seg.image_key for seg in segs}
    if len(images) > 1:
        msg = f"The segmentations {keys} were made on different images {sorted(images)}; compare them one by one."
        raise ValueError(msg)
    if fig is None:
        fig = plt.figure(figsize=(panel_size * len(keys), panel_size))
    else:
        fig.clear()
    axes = fig.subplots(1, len(keys), sharex=True, sharey=True, squeeze=False)[0]
    for ax, seg in zip(axes, segs, strict=True):
        segmentation(sdata, key_added=seg.key_added, region=region, region_units=region_units, ax=ax, **kwargs)
        table = sdata.tables[seg.table]
        n_view = len(ax.collections[[c.get_label() for c in ax.collections].index("cells")].get_paths())
        ax.set_title(
            f"{seg.key_added}: {n_view} cells in view\n"
            f"median {np.median(table.obs['area_um2']):.0f} um², "
            f"{np.median(table.obs['transcript_count']):.0f} transcripts/cell",
            fontsize="medium",
        )
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    return fig
