"""``halo.pl.segmentation``: cell boundaries and nuclei over the nuclear image, with the transcripts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..io import read_segmentation
from ._common import (
    GREY,
    Box,
    cell_colours,
    draw_polygons,
    image_crop,
    image_shape,
    pixel_box,
    shapes_in_box,
    transcripts_in_box,
)
from ._common import show_image as draw_image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)


def segmentation(
    sdata: SpatialData,
    *,
    key_added: str = "halo",
    region: Box | None = None,
    region_units: Literal["px", "um"] = "px",
    genes: Sequence[str] | None = None,
    color: Literal["gene", "cell"] | str | None = None,
    n_top_genes: int = 10,
    show_image: bool = True,
    show_nuclei: bool = True,
    show_transcripts: bool = True,
    boundary_color: str = "#ffd23f",
    nucleus_color: str = "#3fa7ff",
    linewidth: float = 0.8,
    point_size: float = 2.0,
    max_transcripts: int = 200_000,
    max_image_side: int = 2000,
    cmap: str = "gray",
    legend: bool = True,
    title: str | None = None,
    seed: int = 0,
    ax: Axes | None = None,
) -> Axes:
    """Draw a segmentation: cell boundaries and nuclei over the nuclear image, transcripts coloured by gene or cell.

    Everything is drawn in the nuclear image's pixel coordinates (x to the right, y down, pixel ``i`` spanning
    ``[i, i + 1)``), the space in which :func:`halo.tl.segment` wrote its shapes.

    Parameters
    ----------
    sdata
        SpatialData segmented by :func:`halo.tl.segment`.
    key_added
        The ``key_added`` of the segmentation to draw.
    region
        Box ``(x0, y0, x1, y1)`` to draw; the whole image when ``None``.
    region_units
        ``"px"``: ``region`` is in image pixels; ``"um"``: in the transcripts' coordinates, which are micrometres
        for Xenium and MERSCOPE (CosMx transcripts are in FOV pixels: use ``"px"``).
    genes
        Draw only these genes' transcripts, each in its own colour (implies ``color="gene"``).
    color
        ``"gene"``: one colour per gene (``genes``, else the ``n_top_genes`` most frequent in view; the rest grey);
        ``"cell"``: the colour of the cell each transcript was assigned to (grey for none), matching the boundary
        colours; the name of a column of the segmentation's table ``obs`` (e.g. ``"leiden"``): cells filled by
        its value (categories in ``uns[f"{color}_colors"]`` when scanpy set them), transcripts by gene if ``genes``
        is given, else grey. Default: ``"gene"`` when ``genes`` is given, else ``"cell"``.
    n_top_genes
        Genes coloured when ``color="gene"`` and ``genes`` is not given.
    show_image
        Draw the nuclear image underneath.
    show_nuclei
        Draw the nucleus outlines.
    show_transcripts
        Draw the transcripts.
    boundary_color
        Colour of the cell outlines (with ``color="cell"``, each outline takes its cell's colour instead).
    nucleus_color
        Colour of the nucleus outlines.
    linewidth
        Width of the outlines, in points.
    point_size
        Marker area of a transcript, in points squared.
    max_transcripts
        Draw a seeded random subset of at most this many transcripts (all when fewer).
    max_image_side
        Read the image from the coarsest pyramid level that keeps at least this many pixels along the box's longer
        side (whole slides are not read at full resolution).
    cmap
        Colormap of the image.
    legend
        Add a legend of the genes (``color="gene"``) and outlines.
    title
        Axes title; by default the key and the number of cells in view.
    seed
        Seed of the transcript subsample.
    ax
        Axes to draw into; a new figure when ``None``.

    Returns
    -------
    The matplotlib Axes. Its collections are labelled ``"cells"`` (one polygon per cell in view), ``"nuclei"`` and,
    per drawn group of transcripts, the gene name, ``"other genes"``, ``"assigned"`` or ``"unassigned"``.
    """
    import matplotlib.pyplot as plt

    seg = read_segmentation(sdata, key_added)
    if color is None:
        color = "gene" if genes is not None else "cell"
    table = sdata.tables[seg.table]
    if color not in ("gene", "cell") and color not in table.obs:
        msg = (
            f"color must be 'gene', 'cell' or a column of {seg.table!r}.obs ({list(table.obs.columns)}); got {color!r}."
        )
        raise ValueError(msg)
    if genes is not None:
        genes = _panel_genes(genes, table.var_names, seg.table)
    shape = image_shape(sdata, seg.image_key)
    box = pixel_box(sdata, seg, region, region_units, shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7 * (box[3] - box[1]) / max(box[2] - box[0], 1)))

    if show_image:
        draw_image(ax, image_crop(sdata, seg.image_key, seg.channel, box, max_image_side), box, cmap)
    cells = shapes_in_box(sdata, seg.boundaries, seg.image_key, box)
    if color in ("gene", "cell"):
        edge = cell_colours(cells.index.to_numpy()) if color == "cell" else boundary_color
        draw_polygons(ax, cells, edgecolor=edge, linewidth=linewidth, label="cells")
    else:
        _fill_by_obs(ax, cells, table, color, linewidth, legend)
    if show_nuclei:
        nuclei = shapes_in_box(sdata, seg.nuclei, seg.image_key, box)
        draw_polygons(ax, nuclei, edgecolor=nucleus_color, linewidth=linewidth * 0.75, label="nuclei")
    if show_transcripts:
        frame = transcripts_in_box(sdata, seg, box)
        if len(frame) > max_transcripts:
            rng = np.random.default_rng(seed)
            frame = frame.iloc[np.sort(rng.choice(len(frame), max_transcripts, replace=False))]
        if color == "gene" or genes is not None:
            _scatter_by_gene(ax, frame, genes, n_top_genes, point_size)
        elif color == "cell":
            _scatter_by_cell(ax, frame, point_size)
        else:
            ax.scatter(frame["px"], frame["py"], s=point_size, c=GREY, alpha=0.6, linewidths=0, label="transcripts")

    x0, y0, x1, y1 = box
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title(title if title is not None else f"{key_added}: {len(cells)} cells")
    if legend and (color == "gene" or genes is not None or show_nuclei):
        ax.legend(loc="upper right", fontsize="x-small", markerscale=3, framealpha=0.8)
    return ax


def _panel_genes(genes: Sequence[str], panel, table_key: str) -> list[str]:
    """``genes`` that the panel has; a warning names the others, an error when none is there."""
    import warnings

    if isinstance(genes, str):
        genes = [genes]
    genes = [str(g) for g in genes]
    known = set(panel)
    unknown = [g for g in genes if g not in known]
    if len(unknown) == len(genes):
        msg = f"None of genes={genes} is in the panel of {table_key!r} ({len(known)} genes, e.g. {list(panel[:5])})."
        raise ValueError(msg)
    if unknown:
        warnings.warn(f"genes {unknown} are not in the panel of {table_key!r}; drawn: the others.", stacklevel=3)
    return [g for g in genes if g in known]


def _scatter_by_gene(ax, frame, genes, n_top_genes, point_size):
    """One scatter per coloured gene (labelled with its name), the other genes in grey underneath."""
    import matplotlib as mpl

    if genes is not None:
        genes = [str(g) for g in genes]
        known = set(frame["gene"])
        missing = [g for g in genes if g not in known]
        if missing:
            logger.info("genes without transcripts in view: %s", missing)
        shown = genes
    else:
        shown = frame["gene"].value_counts().index[:n_top_genes].tolist()
        rest = frame[~frame["gene"].isin(shown)]
        if len(rest):
            ax.scatter(rest["px"], rest["py"], s=point_size, c=GREY, alpha=0.5, linewidths=0, label="other genes")
    # Set1 for genes, so that they stand out from cells filled with scanpy's / tab10 category colours
    palette = mpl.colormaps["Set1" if len(shown) <= 9 else "tab20"]
    for i, gene in enumerate(shown):
        sub = frame[frame["gene"] == gene]
        ax.scatter(sub["px"], sub["py"], s=point_size, color=palette(i % palette.N), linewidths=0, label=gene)


def _scatter_by_cell(ax, frame, point_size):
    """Unassigned transcripts in grey, assigned ones in their cell's colour."""
    free = frame[frame["cell"] == 0]
    taken = frame[frame["cell"] > 0]
    ax.scatter(free["px"], free["py"], s=point_size, c=GREY, alpha=0.6, linewidths=0, label="unassigned")
    ax.scatter(taken["px"], taken["py"], s=point_size, c=cell_colours(taken["cell"].to_numpy()), linewidths=0,
               label="assigned")  # fmt: skip


def _fill_by_obs(ax, cells, table, column, linewidth, legend):
    """Fill each cell by its value in ``table.obs[column]``: categories with a legend, numbers with a colorbar."""
    import matplotlib as mpl
    import pandas as pd
    from matplotlib.legend import Legend
    from matplotlib.patches import Patch

    from ..io import INSTANCE_KEY

    values = table.obs.set_index(INSTANCE_KEY)[column].reindex(cells.index)
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or values.dtype == bool:
        values = values.astype("category")
        categories = list(values.cat.categories)
        colours = list(table.uns.get(f"{column}_colors", []))
        if len(colours) != len(categories):
            palette = mpl.colormaps["tab10" if len(categories) <= 10 else "tab20"]
            colours = [palette(i % palette.N) for i in range(len(categories))]
        rgba = np.array(
            [mpl.colors.to_rgba(colours[c]) if c >= 0 else mpl.colors.to_rgba(GREY) for c in values.cat.codes]
        )
        draw_polygons(
            ax, cells, edgecolor=rgba, facecolor=rgba[:, :3].tolist(), alpha=0.45, linewidth=linewidth, label="cells"
        )
        if legend:
            shown = sorted(set(values.cat.codes[values.cat.codes >= 0]))
            handles = [Patch(color=colours[c], alpha=0.6, label=str(categories[c])) for c in shown]
            labels = [h.get_label() for h in handles]
            ax.add_artist(Legend(ax, handles, labels, title=column, loc="upper left", fontsize="x-small"))
    else:
        numbers = values.to_numpy(np.float64)
        norm = mpl.colors.Normalize(np.nanmin(numbers), np.nanmax(numbers))
        rgba = mpl.colormaps["viridis"](norm(numbers))
        draw_polygons(
            ax, cells, edgecolor=rgba, facecolor=rgba[:, :3].tolist(), alpha=0.6, linewidth=linewidth, label="cells"
        )
        ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label=column, shrink=0.7)
