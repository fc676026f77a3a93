"""The tissue simulator: consistent ground truth, determinism, platform layouts that halo.tl.segment reads."""

from __future__ import annotations

import numpy as np
import pytest
from spatialdata.transformations import Affine, Scale, Sequence, get_transformation

import halo
from halo.datasets import ARCHETYPES, PLATFORMS, simulate, simulate_tissue
from halo.datasets._simulate._spatialdata import ELEMENT_NAMES
from tests.conftest import transcripts_in_pixels


def _check_ground_truth(t) -> None:
    n = t.n_cells
    assert n > 0
    assert t.cells.dtype == np.int32 and t.nuclei.dtype == np.int32
    # labels are exactly 1..n, one type per cell
    np.testing.assert_array_equal(np.unique(t.cells[t.cells > 0]), np.arange(1, n + 1))
    assert t.cell_type.shape == (n,) and t.cell_type.max() < len(t.cell_type_names)
    # nuclei carry their cell's id and lie inside it
    inside = t.nuclei > 0
    np.testing.assert_array_equal(t.nuclei[inside], t.cells[inside])
    # every transcript is in the image; its true cell is the label under it unless it diffused out
    h, w = t.cells.shape
    assert (t.tx_x >= 0).all() and (t.tx_x < w).all() and (t.tx_y >= 0).all() and (t.tx_y < h).all()
    under = t.cells[t.tx_y.astype(int), t.tx_x.astype(int)]
    made = t.tx_cell > 0
    np.testing.assert_array_equal(under[made & ~t.tx_diffused], t.tx_cell[made & ~t.tx_diffused])
    assert (under[t.tx_diffused] != t.tx_cell[t.tx_diffused]).all()
    assert not t.tx_diffused[~made].any()
    assert t.tx_cell.max() <= n and t.tx_cell.min() >= 0
    # control probes are never made by a cell, and are named so halo's default pattern drops them
    controls = t.control_genes
    assert controls.sum() >= 4 and controls[-1]
    assert (t.tx_cell[controls[t.tx_gene]] == 0).all()
    assert t.tx_gene.dtype == np.int32 and t.tx_gene.max() < len(t.genes)


@pytest.mark.parametrize("tissue", [*ARCHETYPES, "mixed"])
def test_every_archetype_has_consistent_ground_truth(tissue):
    t = simulate_tissue(tissue, size_um=(90.0, 70.0), seed=5)
    assert t.dapi.shape == t.cells.shape == (round(70 / 0.2125), round(90 / 0.2125))
    assert t.dapi.dtype == np.uint16 and t.archetype.startswith(tissue.split(":")[0])
    _check_ground_truth(t)
    # most molecules made by a cell stay in it: diffusion leaks some, not most
    made = t.tx_cell > 0
    assert 0.0 < t.tx_diffused[made].mean() < 0.35


def test_cells_are_one_piece_each():
    from skimage.measure import label

    t = simulate_tissue("brain_cortex", size_um=120.0, seed=2, um_per_px=0.4)
    pieces = label(t.cells, connectivity=1, background=0).max()
    assert pieces == t.n_cells


def test_same_seed_same_tissue_other_seed_differs():
    a = simulate_tissue("mixed", size_um=80.0, seed=11)
    b = simulate_tissue("mixed", size_um=80.0, seed=11)
    c = simulate_tissue("mixed", size_um=80.0, seed=12)
    for field in ("dapi", "cells", "nuclei", "tx_x", "tx_y", "tx_gene", "tx_cell", "cell_type"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.archetype == b.archetype and a.genes == b.genes
    assert a.tx_x.size != c.tx_x.size or not np.array_equal(a.cells, c.cells)


def test_tumour_has_multinucleated_cells_and_cells_without_nucleus():
    from skimage.measure import label

    t = simulate_tissue("pleomorphic_tumour", size_um=200.0, seed=1, um_per_px=0.5)
    pieces = label(t.nuclei, connectivity=1, background=0)
    owner = np.zeros(pieces.max() + 1, dtype=np.int64)
    owner[pieces.ravel()] = t.nuclei.ravel()
    per_cell = np.bincount(owner[1:], minlength=t.n_cells + 1)[1:]
    assert (per_cell >= 2).any()  # several nucleus pieces with the cell's id
    assert (per_cell == 0).any()  # nucleus out of the section plane


def test_liver_has_binucleate_hepatocytes_and_muscle_fibres_many_nuclei():
    from skimage.measure import label

    for tissue, kind, least in (("liver", "hepatocyte", 2), ("skeletal_muscle", "myofibre", 4)):
        t = simulate_tissue(tissue, size_um=200.0, seed=3, um_per_px=0.5)
        pieces = label(t.nuclei, connectivity=1, background=0)
        owner = np.zeros(pieces.max() + 1, dtype=np.int64)
        owner[pieces.ravel()] = t.nuclei.ravel()
        per_cell = np.bincount(owner[1:], minlength=t.n_cells + 1)[1:]
        typed = t.cell_type == t.cell_type_names.index(kind)
        assert per_cell[typed].max() >= least


def test_pixel_size_bit_depth_and_panel_overrides():
    t = simulate_tissue("dense_lymphoid", size_um=(100.0, 50.0), seed=0, um_per_px=0.5, n_genes=60, bit_depth=8)
    assert t.dapi.shape == (100, 200) and t.dapi.dtype == np.uint8 and t.um_per_px == 0.5
    assert len(t.genes) - int(t.control_genes.sum()) == 60
    _check_ground_truth(t)
    m = simulate_tissue("liver", size_um=40.0, seed=0, platform="merscope")
    assert m.dapi.dtype == np.uint8 and m.um_per_px == PLATFORMS["merscope"]
    assert any(g.startswith("Blank-") for g in m.genes)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tissue": "heart"}, "Unknown tissue"),
        ({"platform": "visium"}, "Unknown platform"),
        ({"bit_depth": 12}, "bit_depth"),
        ({"um_per_px": 0.0}, "um_per_px"),
        ({"size_um": -5.0}, "size_um"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_tissue(**{"tissue": "liver", "size_um": 20.0, "seed": 0, **kwargs})


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_spatialdata_ids_line_up_and_segment_finds_inputs(platform):
    sdata = simulate("kidney_tubules", size_um=60.0, seed=4, platform=platform)
    names = ELEMENT_NAMES[platform]
    cells = sdata["true_cell_boundaries"]
    n = len(cells)
    np.testing.assert_array_equal(cells.index.to_numpy(), np.arange(1, n + 1))
    assert int(sdata["true_cells"].max()) == n
    assert set(sdata["true_nucleus_boundaries"].index) <= set(cells.index)
    assert cells["cell_type"].dtype == "category"
    # the points' true cell matches the label under them (through the points' own transformation)
    frame = transcripts_in_pixels(sdata, names["points"], names["image"])
    labels = sdata["true_cells"].to_numpy()
    under = labels[frame["py"].to_numpy().astype(int), frame["px"].to_numpy().astype(int)]
    stay = (frame["true_cell_id"] > 0) & ~frame["true_diffused"]
    np.testing.assert_array_equal(under[stay.to_numpy()], frame["true_cell_id"].to_numpy()[stay.to_numpy()])
    feature = {"xenium": "feature_name", "merscope": "gene", "cosmx": "target"}[platform]
    assert sdata[names["points"]].attrs["spatialdata_attrs"]["feature_key"] == feature
    expected = {"xenium": Scale, "merscope": Affine, "cosmx": Sequence}[platform]
    assert isinstance(get_transformation(sdata[names["points"]], "global"), expected)
    if platform == "xenium":
        assert "qv" in frame.columns

    halo.tl.segment(sdata, method="expansion", progress=False, key_added="sim")
    found = sdata["sim_boundaries"]
    assert 0.5 * n < len(found) <= 1.2 * n
    assigned = sdata[names["points"]]["sim_cell_id"].compute().to_numpy()
    controls = frame[feature].astype(str).str.match(halo.io.DEFAULT_CONTROL_PATTERN, case=False).to_numpy()
    assert (assigned[controls] == 0).all() and controls.any()


def test_tiny_fields_still_build():
    for tissue in ("lung_alveoli", "adipose", "brain_cortex"):
        sdata = simulate(tissue, size_um=3.0, seed=4)
        n = int(sdata["true_cells"].max())
        assert len(sdata["true_cell_boundaries"]) == n if n else "true_cell_boundaries" not in sdata


def test_synthetic_is_a_preset_of_the_simulator_with_its_contract():
    from scipy import ndimage

    um_per_px, origin = 0.2125, (1000.0, 500.0)
    sdata = halo.datasets.synthetic(size_um=(120.0, 90.0), seed=7, um_per_px=um_per_px, origin_um=origin)
    assert set(sdata.images) == {"dapi"} and set(sdata.points) == {"transcripts"}
    assert set(sdata.labels) == {"true_cells", "true_nuclei"}
    assert set(sdata.shapes) == {"true_cell_boundaries", "true_nucleus_boundaries"}
    image = sdata["dapi"]
    assert image.dtype == np.uint16 and list(image.coords["c"].values) == ["DAPI"]
    assert image.shape[1:] == (round(90 / um_per_px), round(120 / um_per_px))
    to_global = get_transformation(image, "global").to_affine_matrix(("x", "y"), ("x", "y"))
    np.testing.assert_array_equal(to_global, np.eye(3))
    # microns to pixels by a translation and a scale from the image corner
    expected = halo.io.microns_to_pixels(um_per_px, origin).to_affine_matrix(("x", "y"), ("x", "y"))
    np.testing.assert_array_equal(halo.io.affine_between(sdata, "transcripts", "dapi"), expected)
    assert isinstance(get_transformation(sdata["transcripts"], "global"), Sequence)

    frame = transcripts_in_pixels(sdata, "transcripts", "dapi")
    assert sdata["transcripts"].attrs["spatialdata_attrs"]["feature_key"] == "feature_name"
    genes = frame["feature_name"]
    assert genes.dtype == "category"
    names = genes.cat.categories
    assert names.str.startswith("NegControlProbe_").any() and names.str.startswith("BLANK_").any()
    assert genes.astype(str).str.startswith(("NegControlProbe_", "BLANK_")).any()  # and they are detected
    assert 0 < (frame["qv"] < 20).mean() < 0.1
    # the same field as the simulator's, and consistent ground truth: true cells under their transcripts
    tissue = simulate_tissue("squamous_epithelium", size_um=(120.0, 90.0), seed=7, n_genes=100)
    labels = sdata["true_cells"].to_numpy()
    np.testing.assert_array_equal(labels, tissue.cells)
    np.testing.assert_array_equal(sdata["dapi"].values[0], tissue.dapi)
    under = labels[frame["py"].to_numpy().astype(int), frame["px"].to_numpy().astype(int)]
    stay = ((frame["true_cell_id"] > 0) & ~frame["true_diffused"]).to_numpy()
    np.testing.assert_array_equal(under[stay], frame["true_cell_id"].to_numpy()[stay])
    # several cell types, and at most one nucleus per cell: a nucleus is one blob (clipped to its cell's rough
    # border, rarely with a sliver beside it), and most cells have theirs in the section
    cells = sdata["true_cell_boundaries"]
    assert cells["cell_type"].nunique() >= 4 and len(cells) == labels.max()
    nuclei = sdata["true_nuclei"].to_numpy()
    main_share = []
    for i, box in enumerate(ndimage.find_objects(nuclei), start=1):
        if box is not None:
            pieces, _ = ndimage.label(nuclei[box] == i, structure=np.ones((3, 3)))
            sizes = np.bincount(pieces.ravel())[1:]
            main_share.append(sizes.max() / sizes.sum())
    assert min(main_share) > 0.9 and len(main_share) > 0.85 * len(cells)
