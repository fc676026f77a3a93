"""``halo.pl.qc``: distributions that tell whether a segmentation is plausible."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..io import assigned_counts, read_segmentation

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from spatialdata import SpatialData


def assigned_fraction(sdata: SpatialData, key_added: str = "halo") -> float:
    """Share of the kept transcripts that lie in a cell (:func:`halo.io.assigned_counts`).

    Parameters
    ----------
    sdata
        SpatialData segmented by :func:`halo.tl.segment`.
    key_added
        The segmentation's ``key_added``.

    Returns
    -------
    Assigned over kept transcripts, as the run counted them (controls, low-quality and off-image transcripts are not
    kept); normalising the table's ``X`` does not change it.
    """
    assigned, kept = assigned_counts(sdata, read_segmentation(sdata, key_added))
    return assigned / kept if kept else float("nan")


def qc(
    sdata: SpatialData,
    *,
    keys: str | Sequence[str] = "halo",
    bins: int = 40,
    fig: Figure | None = None,
) -> Figure:
    """Quality-control panels: cell area, transcripts per cell, and the fraction of transcripts assigned.

    Several segmentations (one ``key_added`` each) are drawn on the same panels, one colour each.

    Parameters
    ----------
    sdata
        SpatialData segmented by :func:`halo.tl.segment`.
    keys
        The ``key_added`` of one segmentation or of several.
    bins
        Number of histogram bins (shared by all keys).
    fig
        Figure to draw into (cleared first); a new one when ``None``.

    Returns
    -------
    The matplotlib Figure with three Axes: histograms of ``obs["area_um2"]`` and ``obs["transcript_count"]``
    (one step histogram per key, labelled with it) and a bar per key of :func:`assigned_fraction`.
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys:
        msg = "keys is empty; give the key_added of at least one segmentation."
        raise ValueError(msg)
    segs = [read_segmentation(sdata, key) for key in keys]
    if fig is None:
        fig = plt.figure(figsize=(13, 3.6))
    else:
        fig.clear()
    ax_area, ax_count, ax_frac = fig.subplots(1, 3)
    palette = mpl.colormaps["tab10"]
    obs = {seg.key_added: sdata.tables[seg.table].obs for seg in segs}
    for ax, column, label in (
        (ax_area, "area_um2", "cell area (um²)"),
        (ax_count, "transcript_count", "transcripts per cell"),
    ):
        values = [o[column].to_numpy(np.float64) for o in obs.values()]
        edges = np.histogram_bin_edges(np.concatenate(values), bins=bins)
        for i, (key, v) in enumerate(zip(obs, values, strict=True)):
            ax.hist(
                v,
                bins=edges,
                histtype="step",
                linewidth=1.5,
                color=palette(i),
                label=f"{key} (median {np.median(v):.0f})",
            )
        ax.set_xlabel(label)
        ax.set_ylabel("cells")
        ax.legend(fontsize="small")
    fractions = [assigned_fraction(sdata, seg.key_added) for seg in segs]
    bars = ax_frac.bar(keys, fractions, color=[palette(i) for i in range(len(keys))])
    ax_frac.bar_label(bars, labels=[f"{f:.1%}" for f in fractions])
    ax_frac.set_ylim(0, 1)
    ax_frac.set_ylabel("kept transcripts in a cell")
    fig.tight_layout()
    return fig
