"""halo.pl draws what the segmentation holds: one outline per cell in view, the right transcripts and colours."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import shapely  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

import halo  # noqa: E402
from tests.conftest import is_control, transcripts_in_pixels  # noqa: E402

BOX = (60, 50, 300, 260)  # image pixels (x0, y0, x1, y1)


@pytest.fixture(scope="module")
def two_segmentations():
    sdata = halo.datasets.synthetic(size_um=(110.0, 90.0), seed=3)
    halo.tl.segment(sdata, method="expansion", progress=False)
    halo.tl.segment(sdata, method="expansion", progress=False, expansion_um=2.0, key_added="expansion")
    return sdata


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _collection(ax, label):
    labels = [c.get_label() for c in ax.collections]
    assert label in labels, f"no collection {label!r} among {labels}"
    return ax.collections[labels.index(label)]


def _n_touching(gdf, box):
    return int(gdf.geometry.intersects(shapely.box(*box)).sum())


def test_segmentation_draws_every_cell_and_nucleus_once(two_segmentations):
    sdata = two_segmentations
    ax = halo.pl.segmentation(sdata)
    assert len(_collection(ax, "cells").get_paths()) == len(sdata["halo_boundaries"])
    assert len(_collection(ax, "nuclei").get_paths()) == len(sdata["halo_nuclei"])
    assert len(ax.images) == 1
    height, width = sdata["dapi"].shape[1:]
    assert ax.images[0].get_extent() == [0, width, height, 0]


def test_segmentation_region_keeps_cells_in_view(two_segmentations):
    sdata = two_segmentations
    ax = halo.pl.segmentation(sdata, region=BOX, show_transcripts=False)
    n = _n_touching(sdata["halo_boundaries"], BOX)
    assert 0 < n < len(sdata["halo_boundaries"])
    assert len(_collection(ax, "cells").get_paths()) == n
    assert ax.get_xlim() == (BOX[0], BOX[2]) and ax.get_ylim() == (BOX[3], BOX[1])
    assert ax.images[0].get_array().shape == (BOX[3] - BOX[1], BOX[2] - BOX[0])
    # the same box in micrometres (synthetic: origin (1000, 500) um, 0.2125 um/px)
    um = tuple(o + v * 0.2125 for o, v in zip((1000, 500, 1000, 500), BOX, strict=True))
    ax_um = halo.pl.segmentation(sdata, region=um, region_units="um", show_transcripts=False)
    assert len(_collection(ax_um, "cells").get_paths()) == n


def test_segmentation_colours_transcripts_by_gene(two_segmentations):
    sdata = two_segmentations
    frame = transcripts_in_pixels(sdata)
    x0, y0, x1, y1 = BOX
    frame = frame[(frame.px >= x0) & (frame.px < x1) & (frame.py >= y0) & (frame.py < y1)]
    genes = list(frame["feature_name"].astype(str).value_counts().index[:3])  # three genes present in the box
    ax = halo.pl.segmentation(sdata, region=BOX, genes=genes)
    colours = set()
    for gene in genes:
        points = _collection(ax, gene)
        assert len(points.get_offsets()) == (frame["feature_name"] == gene).sum() > 0
        colours.add(tuple(points.get_facecolor()[0]))
    assert len(colours) == len(genes)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(genes) <= set(legend)
    # only the asked genes are drawn
    labels = {c.get_label() for c in ax.collections} - {"cells", "nuclei"}
    assert labels == set(genes)


def test_segmentation_colours_transcripts_by_cell(two_segmentations):
    sdata = two_segmentations
    ax = halo.pl.segmentation(sdata, color="cell", region=BOX)
    frame = transcripts_in_pixels(sdata)
    x0, y0, x1, y1 = BOX
    frame = frame[(frame.px >= x0) & (frame.px < x1) & (frame.py >= y0) & (frame.py < y1)]
    assigned, free = _collection(ax, "assigned"), _collection(ax, "unassigned")
    assert len(assigned.get_offsets()) == (frame["halo_cell_id"] > 0).sum()
    assert len(free.get_offsets()) == (frame["halo_cell_id"] == 0).sum()
    assert np.allclose(free.get_facecolor()[:, :3], to_rgba("#9a9a9a")[:3])
    # a transcript has the colour of its cell's outline
    cells = _collection(ax, "cells")
    boundaries = sdata["halo_boundaries"]
    in_view = boundaries.index[boundaries.geometry.intersects(shapely.box(*BOX))]
    edge_of = dict(zip(in_view, map(tuple, cells.get_edgecolor()), strict=True))
    ids = frame.loc[frame["halo_cell_id"] > 0, "halo_cell_id"].to_numpy()
    point_colours = assigned.get_facecolor()
    assert all(edge_of[i] == tuple(c) for i, c in zip(ids, point_colours, strict=True) if i in edge_of)


def test_segmentation_errors_name_the_fix(two_segmentations):
    with pytest.raises(KeyError, match="halo.tl.segment"):
        halo.pl.segmentation(two_segmentations, key_added="missing")
    with pytest.raises(ValueError, match="outside image"):
        halo.pl.segmentation(two_segmentations, region=(10_000, 10_000, 10_100, 10_100))
    with pytest.raises(ValueError, match="color"):
        halo.pl.segmentation(two_segmentations, color="type")


def test_compare_puts_each_segmentation_in_its_panel(two_segmentations):
    sdata = two_segmentations
    fig = halo.pl.compare(sdata, keys=("halo", "expansion"), region=BOX, show_transcripts=False)
    assert len(fig.axes) == 2
    for ax, key in zip(fig.axes, ("halo", "expansion"), strict=True):
        n = _n_touching(sdata[f"{key}_boundaries"], BOX)
        assert len(_collection(ax, "cells").get_paths()) == n
        assert ax.get_title().startswith(f"{key}: {n} cells in view")
    # the smaller expansion has smaller cells
    assert sdata["expansion_table"].obs["area_um2"].median() < sdata["halo_table"].obs["area_um2"].median()


def test_compare_refuses_segmentations_of_different_images(two_segmentations):
    sdata = two_segmentations
    uns = sdata["expansion_table"].uns["halo"]["params"]
    original = uns["image_key"]
    uns["image_key"] = "other_image"
    try:
        with pytest.raises(ValueError, match="different images"):
            halo.pl.compare(sdata, keys=("halo", "expansion"))
        with pytest.raises(KeyError, match="segmentations present"):
            halo.pl.compare(sdata, keys=("halo", "nothing"))
    finally:
        uns["image_key"] = original


def test_qc_panels_match_the_table(two_segmentations):
    sdata = two_segmentations
    fig = halo.pl.qc(sdata, keys=["halo", "expansion"])
    ax_area, ax_count, ax_frac = fig.axes
    for ax, column in ((ax_area, "area_um2"), (ax_count, "transcript_count")):
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        expected = [f"{k} (median {np.median(sdata[f'{k}_table'].obs[column]):.0f})" for k in ("halo", "expansion")]
        assert legend == expected
    heights = [p.get_height() for p in ax_frac.patches]
    frame = sdata["transcripts"].compute()
    control = is_control(frame["feature_name"])
    kept = (~control) & (frame["qv"] >= 20)
    for key, height in zip(("halo", "expansion"), heights, strict=True):
        assert height == pytest.approx((frame.loc[kept, f"{key}_cell_id"] > 0).mean())
    assert heights[0] > heights[1]


def test_segmentation_fills_cells_by_a_table_column(two_segmentations):
    from matplotlib.legend import Legend

    sdata = two_segmentations
    table = sdata["halo_table"]
    table.obs["kind"] = pd.Categorical(np.where(table.obs["cell_id"] % 3 == 0, "a", "b"))
    table.uns["kind_colors"] = ["#ff0000", "#0000ff"]
    try:
        ax = halo.pl.segmentation(sdata, color="kind", show_transcripts=False)
        faces = _collection(ax, "cells").get_facecolor()[:, :3]
        boundaries = sdata["halo_boundaries"]
        expected = np.where((boundaries.index.to_numpy() % 3 == 0)[:, None], [1.0, 0, 0], [0, 0, 1.0])
        np.testing.assert_allclose(faces, expected)
        legends = [a for a in ax.artists if isinstance(a, Legend)]
        assert [t.get_text() for t in legends[0].get_texts()] == ["a", "b"]
        ax = halo.pl.segmentation(sdata, color="area_um2", show_transcripts=False)
        faces = _collection(ax, "cells").get_facecolor()
        order = np.argsort(table.obs.set_index("cell_id").loc[boundaries.index, "area_um2"].to_numpy())
        assert faces[order[0], 1] < faces[order[-1], 1]  # viridis: green grows from small to large
    finally:
        del table.obs["kind"], table.uns["kind_colors"]


def test_segmentation_reads_a_coarser_pyramid_level_for_large_views(two_segmentations):
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import get_transformation

    sdata = two_segmentations
    flat = sdata["dapi"]
    pyramid = Image2DModel.parse(
        flat.data, dims=("c", "y", "x"), c_coords=["DAPI"], scale_factors=[2, 2],
        transformations=get_transformation(flat, get_all=True),
    )  # fmt: skip
    sdata.images["dapi"] = pyramid
    try:
        height, width = flat.shape[1:]
        ax = halo.pl.segmentation(sdata, max_image_side=width // 3, show_transcripts=False)
        image = ax.images[0]
        # scale1 (halved) still has >= width / 3 pixels a side; scale2 (quartered) would not
        assert image.get_array().shape == pyramid["scale1"]["image"].shape[1:]
        assert image.get_extent() == [0, width, height, 0]
        full = halo.pl.segmentation(sdata, region=BOX, show_transcripts=False)  # small view: full resolution
        np.testing.assert_array_equal(full.images[0].get_array(), flat.data[0, BOX[1] : BOX[3], BOX[0] : BOX[2]])
    finally:
        sdata.images["dapi"] = flat


def test_genes_outside_the_panel_are_named(two_segmentations):
    sdata = two_segmentations
    panel = list(sdata["halo_table"].var_names)
    with pytest.warns(UserWarning, match=r"genes \['NOPE'\] are not in the panel of 'halo_table'"):
        ax = halo.pl.segmentation(sdata, region=BOX, genes=[panel[0], "NOPE"])
    assert "NOPE" not in {c.get_label() for c in ax.collections}
    with pytest.raises(ValueError, match=r"None of genes=\['NOPE'\] is in the panel of 'halo_table'"):
        halo.pl.segmentation(sdata, genes=["NOPE"])
    with pytest.raises(ValueError, match="color must be 'gene', 'cell' or a column of 'halo_table'.obs"):
        halo.pl.segmentation(sdata, color="leiden")  # no clustering yet


def test_the_assigned_share_does_not_change_when_scanpy_normalises_the_table(two_segmentations):
    """One meaning of "assigned" (kept transcripts in a cell), read from the run's record, never from ``X``."""
    import scanpy as sc

    sdata = two_segmentations
    before = halo.pl.assigned_fraction(sdata, "halo")
    summary = sdata["halo_table"].uns["halo"]["summary"]
    assert before == summary["n_assigned"] / summary["n_kept"]
    assert summary["n_assigned"] == sdata["halo_table"].layers["counts"].sum()
    original = sdata["halo_table"]
    table = original.copy()  # the module's fixture stays as it was
    sdata.tables["halo_table"] = table
    try:
        sc.pp.normalize_total(table)
        sc.pp.log1p(table)
        assert halo.pl.assigned_fraction(sdata, "halo") == before
        bars = halo.pl.qc(sdata, keys=["halo"]).axes[2].patches
        assert bars[0].get_height() == pytest.approx(before)
    finally:
        sdata.tables["halo_table"] = original
