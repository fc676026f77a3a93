"""Known-answer tests for halo.metrics on tiny hand-made inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

import halo.metrics as hm
from halo.metrics._matching import max_weight_matching

# ----------------------------------------------------------------------------------------------
# match_instances
# ----------------------------------------------------------------------------------------------


def _img(shape=(6, 10)):
    return np.zeros(shape, dtype=np.int32)


def test_shifted_square_iou_known():
    ref, pred = _img(), _img()
    ref[0:4, 0:4] = 1  # 16 px
    pred[0:4, 1:5] = 9  # same square one column to the right: 12 shared px, union 20
    s = hm.match_instances(ref, pred)
    assert (s.n_reference, s.n_prediction, s.tp, s.fp, s.fn) == (1, 1, 1, 0, 0)
    assert s.precision == s.recall == s.f1 == 1.0
    assert s.mean_matched_iou == pytest.approx(12 / 20)
    assert s.panoptic_quality == pytest.approx(12 / 20)
    np.testing.assert_array_equal(s.matched_reference, [1])
    np.testing.assert_array_equal(s.matched_prediction, [9])
    np.testing.assert_allclose(s.matched_iou, [0.6])
    # above the pair's IoU nothing matches
    s2 = hm.match_instances(ref, pred, iou_threshold=0.61)
    assert (s2.tp, s2.fp, s2.fn) == (0, 1, 1)
    assert s2.f1 == 0.0 and s2.panoptic_quality == 0.0 and math.isnan(s2.mean_matched_iou)


def test_split_cell_iou_exactly_at_threshold():
    ref, pred = _img(), _img()
    ref[0:4, 0:4] = 3  # 16 px
    pred[0:4, 0:2] = 1  # two halves of 8 px: IoU exactly 8/16 = 0.5 each
    pred[0:4, 2:4] = 2
    s = hm.match_instances(ref, pred, iou_threshold=0.5)
    # one-to-one: only one half can be matched
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)
    assert s.precision == 0.5 and s.recall == 1.0
    assert s.f1 == pytest.approx(2 / 3)
    assert s.mean_matched_iou == 0.5
    assert s.panoptic_quality == pytest.approx(1 / 3)
    assert s.panoptic_quality == pytest.approx(s.f1 * s.mean_matched_iou)
    s2 = hm.match_instances(ref, pred, iou_threshold=0.5000001)
    assert s2.tp == 0


def test_iou_at_non_dyadic_threshold_is_exact():
    ref, pred = np.zeros((1, 12), dtype=np.int64), np.zeros((1, 12), dtype=np.int64)
    ref[0, 0:10] = 1
    pred[0, 0:7] = 2  # IoU = 7 / 10
    assert hm.match_instances(ref, pred, iou_threshold=0.7).tp == 1
    assert hm.match_instances(ref, pred, iou_threshold=0.7000001).tp == 0


def test_merged_cell():
    ref, pred = _img(), _img()
    ref[0:4, 0:5] = 1  # 20 px
    ref[0:4, 5:8] = 2  # 12 px
    pred[0:4, 0:8] = 5  # merges both: IoU 20/32 and 12/32
    s = hm.match_instances(ref, pred)
    assert (s.tp, s.fp, s.fn) == (1, 0, 1)
    assert s.precision == 1.0 and s.recall == 0.5
    assert s.f1 == pytest.approx(2 / 3)
    np.testing.assert_array_equal(s.matched_reference, [1])
    assert s.mean_matched_iou == pytest.approx(20 / 32)
    assert s.panoptic_quality == pytest.approx(2 / 3 * 20 / 32)


def test_missing_cell():
    ref = _img()
    ref[0:2, 0:2] = 4
    ref[3:6, 5:9] = 7
    pred = np.where(ref == 4, 4, 0)
    s = hm.match_instances(ref, pred)
    assert (s.n_reference, s.n_prediction, s.tp, s.fp, s.fn) == (2, 1, 1, 0, 1)
    assert s.precision == 1.0 and s.recall == 0.5
    assert s.f1 == pytest.approx(2 / 3)
    assert s.mean_matched_iou == 1.0
    assert s.panoptic_quality == pytest.approx(2 / 3)


def test_optimal_matching_maximises_number_of_matches():
    # 1-D strip. A=[0,10), B=[10,20); X=[2,13), Y=[0,2).
    # IoU(A,X)=8/13, IoU(A,Y)=2/10, IoU(B,X)=3/18, IoU(B,Y)=0. Greedy by IoU matches A-X only;
    # the optimal one-to-one matching at threshold 0.15 matches A-Y and B-X.
    ref = np.zeros((1, 20), dtype=np.int32)
    ref[0, 0:10], ref[0, 10:20] = 1, 2
    pred = np.zeros_like(ref)
    pred[0, 2:13], pred[0, 0:2] = 10, 20
    s = hm.match_instances(ref, pred, iou_threshold=0.15)
    assert s.tp == 2
    np.testing.assert_array_equal(s.matched_reference, [1, 2])
    np.testing.assert_array_equal(s.matched_prediction, [20, 10])
    assert s.mean_matched_iou == pytest.approx((2 / 10 + 3 / 18) / 2)


def test_empty_images():
    empty = _img()
    one = _img()
    one[1:3, 1:3] = 1
    s = hm.match_instances(empty, empty)
    assert (s.n_reference, s.n_prediction, s.tp) == (0, 0, 0)
    assert s.precision == s.recall == s.f1 == s.panoptic_quality == 1.0
    assert math.isnan(s.mean_matched_iou)
    assert s.matched_reference.shape == (0,)
    s = hm.match_instances(one, empty)  # nothing predicted
    assert (s.precision, s.recall, s.f1, s.panoptic_quality) == (0.0, 0.0, 0.0, 0.0)
    assert s.fn == 1
    s = hm.match_instances(empty, one)  # nothing to find
    assert (s.precision, s.recall, s.f1, s.panoptic_quality) == (0.0, 0.0, 0.0, 0.0)
    assert s.fp == 1


def test_result_is_frozen_and_as_dict():
    ref = _img()
    ref[0:2, 0:2] = 1
    s = hm.match_instances(ref, ref)
    with pytest.raises(AttributeError):
        s.f1 = 0.0
    with pytest.raises(ValueError):
        s.matched_iou[0] = 0.0  # read-only array
    d = s.as_dict()
    assert d["f1"] == 1.0 and "matched_iou" not in d


def _random_labels(rng, shape=(64, 64), n=40):
    """Voronoi-like label image with some background."""
    seeds = rng.integers(0, shape[0], size=(n, 2))
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    dist = (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2
    labels = dist.argmin(-1).astype(np.int32) + 1
    labels[dist.min(-1) > 60] = 0
    return labels


def test_permuting_prediction_ids_changes_no_score():
    rng = np.random.default_rng(0)
    ref = _random_labels(rng)
    pred = _random_labels(np.random.default_rng(5), n=60)  # unrelated cells: splits, merges, chains
    pred[rng.random(pred.shape) < 0.05] = 0
    ids = np.unique(pred[pred > 0])
    new_ids = rng.permutation(np.arange(1, 10 * ids.size))[: ids.size] * 1000  # sparse, large, shuffled
    lut = np.zeros(pred.max() + 1, dtype=np.int64)
    lut[ids] = new_ids
    pred2 = lut[pred]
    for thr in (0.5, 0.1):  # at 0.1 cells have several candidate partners
        a = hm.match_instances(ref, pred, iou_threshold=thr)
        b = hm.match_instances(ref, pred2, iou_threshold=thr)
        assert a.as_dict() == b.as_dict()
        assert 0 < a.tp
    tx_ref = rng.integers(-1, 30, size=500)
    tx_pred = rng.integers(-1, 30, size=500)
    perm = np.concatenate([[0], rng.permutation(np.arange(1, 30)) + 100])
    tx_pred2 = np.where(tx_pred > 0, perm[np.clip(tx_pred, 0, None)], tx_pred)
    a, b = hm.assignment_scores(tx_ref, tx_pred), hm.assignment_scores(tx_ref, tx_pred2)
    assert a.as_dict() == b.as_dict()
    assert 0 < a.accuracy < 1


def test_identical_and_huge_ids_and_3d():
    rng = np.random.default_rng(1)
    ref = _random_labels(rng)
    s = hm.match_instances(ref, ref)
    assert s.f1 == 1.0 and s.mean_matched_iou == 1.0 and s.tp == np.unique(ref[ref > 0]).size
    big = np.where(ref > 0, ref.astype(np.uint64) + 2**40, 0).astype(np.uint64)  # ids above the bincount path
    assert hm.match_instances(ref, big).as_dict() == s.as_dict()
    vol = np.stack([ref, ref])
    assert hm.match_instances(vol, vol).tp == s.tp


@pytest.mark.parametrize(
    ("ref", "pred", "kwargs", "match"),
    [
        (np.zeros((4, 4), int), np.zeros((4, 5), int), {}, "same shape"),
        (np.zeros((4, 4), float), np.zeros((4, 4), int), {}, "integer label image"),
        (np.zeros((4, 4), int), np.zeros((4, 4), bool), {}, "skimage.measure.label"),
        (np.full((4, 4), -1), np.zeros((4, 4), int), {}, "negative labels"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), {"iou_threshold": 0.0}, r"\(0, 1\]"),
        (np.zeros((4, 4), int), np.zeros((4, 4), int), {"iou_threshold": 1.5}, r"\(0, 1\]"),
    ],
)
def test_match_instances_errors(ref, pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hm.match_instances(ref, pred, **kwargs)


@pytest.mark.parametrize("dense_block_max", [0, 10**9])
def test_matching_helper_is_optimal(dense_block_max):
    """Sparse and dense solver paths both reach the brute-force optimum."""
    rng = np.random.default_rng(2)
    for _ in range(20):
        nr, nc = rng.integers(1, 9, size=2)
        mask = rng.random((nr, nc)) < 0.4
        weights = np.where(mask, rng.integers(1, 20, size=(nr, nc)), 0).astype(float)
        rows, cols = np.nonzero(mask)
        edges = max_weight_matching(rows, cols, weights[rows, cols], nr, nc, dense_block_max=dense_block_max)
        assert np.unique(rows[edges]).size == edges.size and np.unique(cols[edges]).size == edges.size
        r, c = linear_sum_assignment(weights, maximize=True)
        assert weights[rows[edges], cols[edges]].sum() == weights[r, c].sum()


# ----------------------------------------------------------------------------------------------
# assignment_scores
# ----------------------------------------------------------------------------------------------

REF_TX = np.array([1, 1, 1, 1, 2, 2, 2, 0, 0])
PRED_TX = np.array([5, 5, 5, 6, 6, 6, 0, 6, 0])


def test_assignment_identical_and_relabelled():
    ref = np.array([1, 1, 2, 2, 2, 3, 0, -1])
    for pred in (ref, np.where(ref > 0, ref * 3 + 7, 0)):
        s = hm.assignment_scores(ref, pred)
        assert s.ari == 1.0 and s.accuracy == 1.0 and s.precision == 1.0
        assert s.fraction_assigned == 6 / 8 and s.fraction_assigned_reference == 6 / 8


def test_assignment_known_values():
    s = hm.assignment_scores(REF_TX, PRED_TX)
    # contingency: ref 1 -> {5: 3, 6: 1}, ref 2 -> {6: 2, unassigned: 1}; best one-to-one: 1-5, 2-6
    assert s.matching == "transcripts"
    np.testing.assert_array_equal(s.matched_reference, [1, 2])
    np.testing.assert_array_equal(s.matched_prediction, [5, 6])
    assert (s.n_transcripts, s.n_in_reference) == (9, 7)
    assert s.accuracy == pytest.approx(5 / 7)
    assert s.precision == pytest.approx(5 / 7)  # 7 predicted-assigned, 5 correct
    assert s.fraction_assigned == pytest.approx(7 / 9)
    # ARI by hand: sum C(n_ij,2)=4, rows 9, cols 6, C(7,2)=21 -> (4-54/21)/(7.5-54/21) = 20/69
    assert s.ari == pytest.approx(20 / 69)


def test_assignment_given_matches():
    s = hm.assignment_scores(REF_TX, PRED_TX, matches=([1], [6]))
    assert s.matching == "given"
    assert s.accuracy == pytest.approx(1 / 7)  # only the ref-1 transcript in cell 6
    assert s.precision == pytest.approx(1 / 7)
    s2 = hm.assignment_scores(REF_TX, PRED_TX, matches=np.array([[2, 6], [1, 5]]))
    assert s2.accuracy == pytest.approx(5 / 7)
    np.testing.assert_array_equal(s2.matched_reference, [1, 2])


def test_assignment_accepts_instance_scores():
    ref_img = np.zeros((4, 8), dtype=int)
    ref_img[:, :4], ref_img[:, 4:] = 1, 2
    pred_img = np.zeros_like(ref_img)
    pred_img[:, :3], pred_img[:, 3:] = 7, 8  # IoU(1,7)=12/16, IoU(2,8)=16/20
    inst = hm.match_instances(ref_img, pred_img)
    rows, cols = np.nonzero(np.ones_like(ref_img))  # one transcript per pixel
    s = hm.assignment_scores(ref_img[rows, cols], pred_img[rows, cols], matches=inst)
    assert s.accuracy == pytest.approx(28 / 32)


def test_assignment_merge_everything_is_not_rewarded():
    ref = np.repeat([1, 2, 3, 4], 5)
    pred = np.ones_like(ref)  # one predicted cell covering everything
    s = hm.assignment_scores(ref, pred)
    assert s.accuracy == pytest.approx(5 / 20)  # one-to-one: only one reference cell is credited
    assert s.ari == 0.0


def test_assignment_unassigned_is_one_cluster():
    ref = np.array([1, 1, 2, 2])
    s = hm.assignment_scores(ref, np.array([0, 0, -1, -1]))  # 0 and -1 are both "unassigned"
    assert s.ari == 0.0 and s.accuracy == 0.0 and s.fraction_assigned == 0.0
    assert math.isnan(s.precision)


def test_assignment_no_reference_transcripts():
    s = hm.assignment_scores(np.array([0, -1]), np.array([1, 2]))
    assert math.isnan(s.ari) and math.isnan(s.accuracy)
    assert s.precision == 0.0 and s.fraction_assigned == 1.0


@pytest.mark.parametrize(
    ("ref", "pred", "kwargs", "match"),
    [
        (np.array([1, 2]), np.array([1, 2, 3]), {}, "one entry per transcript"),
        (np.array([1.0, 2.0]), np.array([1, 2]), {}, "integer cell ids"),
        (np.array([[1, 2]]), np.array([[1, 2]]), {}, "1-D"),
        (np.array([1, 2]), np.array([1, 2]), {"matches": ([1, 2], [3, 3])}, "one-to-one"),
        (np.array([1, 2]), np.array([1, 2]), {"matches": ([1, 0], [3, 4])}, "ids > 0"),
        (np.array([1, 2]), np.array([1, 2]), {"matches": ([1, 2], [3])}, "as many"),
    ],
)
def test_assignment_errors(ref, pred, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hm.assignment_scores(ref, pred, **kwargs)


# ----------------------------------------------------------------------------------------------
# reference-free
# ----------------------------------------------------------------------------------------------


def test_fraction_assigned_and_transcripts_per_cell():
    ids = np.array([1, 1, 1, 2, 0, 3, 3, -1])
    assert hm.fraction_assigned(ids) == 6 / 8
    assert math.isnan(hm.fraction_assigned(np.array([], dtype=int)))
    s = hm.transcripts_per_cell(ids)
    assert (s.n, s.mean, s.median) == (3, 2.0, 2.0)
    assert s.values.to_dict() == {1: 3, 2: 1, 3: 2}
    assert hm.transcripts_per_cell(np.array([0, -1])).n == 0


def test_cell_areas():
    labels = np.zeros((4, 4), dtype=np.uint16)
    labels[:2, :2] = 5
    labels[3, :2] = 9
    s = hm.cell_areas(labels, pixel_size=0.5)
    assert s.values.to_dict() == {5: 1.0, 9: 0.5}
    assert s.n == 2 and s.mean == 0.75


GENES = ["a1", "a2", "b1", "x"]
# cell: a1 a2 b1 x
COUNTS = np.array(
    [
        [1, 0, 1, 0],  # c0: a1 & b1
        [2, 0, 0, 0],  # c1: a1
        [0, 1, 1, 0],  # c2: a2 & b1
        [0, 3, 0, 0],  # c3: a2
        [0, 0, 0, 5],  # c4: neither
        [0, 1, 0, 0],  # c5: a2
    ]
)
MARKERS = {"A": ["a1", "a2"], "B": ["b1"]}


def test_exclusive_marker_pairs():
    assert hm.exclusive_marker_pairs(MARKERS) == [("a1", "b1"), ("a2", "b1")]
    shared = {"A": ["s", "a"], "B": ["s", "b"], "C": ["c"]}
    assert hm.exclusive_marker_pairs(shared) == [("a", "b"), ("a", "c"), ("b", "c"), ("c", "s")]
    assert hm.exclusive_marker_pairs(shared, specific_only=True) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert hm.exclusive_marker_pairs(shared, genes=["a", "b", "s"]) == [("a", "b")]


def test_mecr_known_value():
    # (a1, b1): either = {c0, c1, c2}, both = {c0} -> 1/3; (a2, b1): either = {c0, c2, c3, c5}, both = {c2} -> 1/4
    expected = (1 / 3 + 1 / 4) / 2
    assert hm.mecr(COUNTS, MARKERS, genes=GENES, min_counts=0) == pytest.approx(expected)
    pairs = [("a1", "b1"), ("a2", "b1")]
    assert hm.mecr(COUNTS, pairs, genes=GENES, min_counts=0) == pytest.approx(expected)
    rates = hm.coexpression_rates(COUNTS, pairs, genes=GENES, min_counts=0)
    assert rates[["n_a", "n_b", "n_both", "n_either"]].to_numpy().tolist() == [[2, 2, 1, 3], [3, 2, 1, 4]]
    # min_counts keeps c3 (3) and c4 (5): (a1, b1) is never detected (left out), (a2, b1) has rate 0
    assert hm.mecr(COUNTS, MARKERS, genes=GENES, min_counts=3) == 0.0


def test_mecr_input_types_agree():
    import anndata as ad

    expected = hm.mecr(COUNTS, MARKERS, genes=GENES, min_counts=0)
    adata = ad.AnnData(X=sp.csr_matrix(COUNTS.astype(np.float32)), var=pd.DataFrame(index=GENES))
    assert hm.mecr(adata, MARKERS, min_counts=0) == pytest.approx(expected)
    adata.layers["counts"] = COUNTS
    adata.X = np.zeros_like(COUNTS)
    assert hm.mecr(adata, MARKERS, layer="counts", min_counts=0) == pytest.approx(expected)
    df = pd.DataFrame(COUNTS, columns=GENES)
    assert hm.mecr(df, MARKERS, min_counts=0) == pytest.approx(expected)
    assert hm.mecr(sp.csc_matrix(COUNTS), MARKERS, genes=GENES, min_counts=0) == pytest.approx(expected)
    # markers missing from the panel are ignored
    assert hm.mecr(df, {**MARKERS, "C": ["zz"]}, min_counts=0) == pytest.approx(expected)


PURITY_GENES = ["CD3E", "CD8A", "ACTA2", "COL1A1", "MYH11", "OTHER"]
PURITY_MARKERS = {"T": ["CD3E", "CD8A"], "Stromal": ["ACTA2", "COL1A1"], "SMC": ["ACTA2", "MYH11"]}
# cell: CD3E CD8A ACTA2 COL1A1 MYH11 OTHER
PURITY_COUNTS = np.array(
    [
        [1, 1, 0, 0, 0, 0],  # pure (T)
        [0, 0, 2, 0, 0, 0],  # pure (ACTA2 is shared by Stromal and SMC)
        [0, 0, 1, 0, 1, 0],  # pure (SMC)
        [0, 0, 0, 1, 1, 0],  # mixed: no type has both COL1A1 and MYH11
        [3, 0, 1, 0, 0, 0],  # mixed; pure once a marker needs >= 2 counts
        [0, 0, 0, 0, 0, 4],  # no markers
        [0, 0, 0, 0, 1, 0],  # below min_counts=2, not scored
    ]
)


def test_cell_type_purity_known_value():
    s = hm.cell_type_purity(PURITY_COUNTS, PURITY_MARKERS, genes=PURITY_GENES, min_counts=2)
    assert (s.n_cells, s.n_pure, s.n_mixed, s.n_no_markers) == (6, 3, 2, 1)
    assert s.purity == 0.5 and s.purity_of_typed == pytest.approx(3 / 5)
    s2 = hm.cell_type_purity(PURITY_COUNTS, PURITY_MARKERS, genes=PURITY_GENES, min_counts=2, min_marker_counts=2)
    # with >= 2 counts: c0, c2, c3 detect nothing; c1 (ACTA2=2) and c4 (CD3E=3) are pure
    assert (s2.n_pure, s2.n_mixed, s2.n_no_markers) == (2, 0, 4)
    merged = hm.merge_marker_types(PURITY_MARKERS, {"Stromal": "Mesenchymal", "SMC": "Mesenchymal"})
    assert merged == {"T": ["CD3E", "CD8A"], "Mesenchymal": ["ACTA2", "COL1A1", "MYH11"]}
    s3 = hm.cell_type_purity(PURITY_COUNTS, merged, genes=PURITY_GENES, min_counts=2)
    assert (s3.n_pure, s3.n_mixed) == (4, 1)


def test_read_marker_table(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text(",g1,g2,g3\nA,1.0,0.0,1.0\nB/x,0.0,1.0,0.0\nC,0.0,0.0,0.0\n")
    assert hm.read_marker_table(wide) == {"A": ["g1", "g3"], "B/x": ["g2"], "C": []}
    tall = tmp_path / "tall.csv"
    tall.write_text("gene,A,B\ng1,1,0\ng2,0,1\n")
    assert hm.read_marker_table(tall, transpose=True) == {"A": ["g1"], "B": ["g2"]}
    long = tmp_path / "long.csv"
    long.write_text("cell_type,gene\nA,g1\nA,g3\nB,g2\n")
    assert hm.read_marker_table(long) == {"A": ["g1", "g3"], "B": ["g2"]}
    bad = tmp_path / "bad.csv"
    bad.write_text(",g1,g2\nA,yes,no\n")
    with pytest.raises(ValueError, match="marker table"):
        hm.read_marker_table(bad)


REAL_MARKERS = Path(__file__).parents[2] / "shared/data/xenium_breast_crop_raw/sc_breast_markers_pos.csv"


@pytest.mark.skipif(not REAL_MARKERS.exists(), reason="shared real data not available")
def test_read_real_marker_table():
    markers = hm.read_marker_table(REAL_MARKERS)
    assert len(markers) == 15 and markers["B"] == [] and "ACTA2" in markers["SMC"]
    assert len(hm.exclusive_marker_pairs(markers)) > 0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: hm.mecr(COUNTS, MARKERS), "needs gene names"),
        (lambda: hm.mecr(COUNTS, MARKERS, genes=GENES[:3]), "4 gene columns|3 gene columns"),
        (lambda: hm.mecr(COUNTS, MARKERS, genes=["a1", "a1", "b1", "x"]), "unique"),
        (lambda: hm.mecr(COUNTS, {"A": ["a1"]}, genes=GENES), "No exclusive marker pairs"),
        (lambda: hm.mecr(COUNTS, MARKERS, genes=GENES, layer="counts"), "AnnData"),
        (lambda: hm.cell_type_purity(COUNTS, ["a1"], genes=GENES), "mapping"),
        (lambda: hm.cell_type_purity(COUNTS, {"Z": ["zz"]}, genes=GENES), "None of the marker genes"),
        (lambda: hm.fraction_assigned(np.array([0.5, 1.0])), "integer cell ids"),
    ],
)
def test_reference_free_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_public_api():
    for name in hm.__all__:
        assert hasattr(hm, name)
