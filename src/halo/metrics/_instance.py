"""Instance-level comparison of two label images by one-to-one IoU matching."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ._matching import max_weight_matching
from ._validation import check_label_image

__all__ = ["InstanceScores", "match_instances"]


@dataclass(frozen=True, slots=True, eq=False)  # holds arrays: compare `as_dict()` instead
class InstanceScores:
    """Result of :func:`match_instances`.

    Attributes
    ----------
    n_reference, n_prediction
        Number of distinct non-zero labels in the reference and the prediction.
    tp
        Matched pairs with IoU at or above the threshold (true positives).
    fp
        Predicted cells left unmatched, ``n_prediction - tp``.
    fn
        Reference cells left unmatched, ``n_reference - tp``.
    precision, recall, f1
        ``tp / n_prediction``, ``tp / n_reference`` and ``2 tp / (n_reference + n_prediction)``.
    mean_matched_iou
        Mean IoU of the matched pairs (segmentation quality, SQ); ``nan`` when nothing is matched.
    panoptic_quality
        ``f1 * mean_matched_iou`` (PQ = SQ x RQ), i.e. ``sum(matched IoU) / (tp + fp / 2 + fn / 2)``;
        0 when nothing is matched.
    iou_threshold
        The threshold the pairs were matched at.
    matched_reference, matched_prediction
        Label ids of the matched pairs (read-only arrays of equal length, sorted by reference id).
    matched_iou
        IoU of each matched pair.
    """

    n_reference: int
    n_prediction: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_matched_iou: float
    panoptic_quality: float
    iou_threshold: float
    matched_reference: np.ndarray = field(repr=False)
    matched_prediction: np.ndarray = field(repr=False)
    matched_iou: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, float]:
        """Return the scalar scores (everything but the matched-pair arrays) as a plain ``dict``."""
        return {
            "n_reference": self.n_reference,
            "n_prediction": self.n_prediction,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "mean_matched_iou": self.mean_matched_iou,
            "panoptic_quality": self.panoptic_quality,
            "iou_threshold": self.iou_threshold,
        }


def match_instances(
    reference: np.ndarray,
    prediction: np.ndarray,
    *,
    iou_threshold: float = 0.5,
) -> InstanceScores:
    """Match predicted cells to reference cells one-to-one by intersection over union.

    Only pairs of cells that overlap are considered; their IoU matrix is built sparsely from the
    pixels where both images are non-zero. Among pairs with ``IoU >= iou_threshold``, an optimal
    one-to-one assignment (Hungarian / Jonker-Volgenant) first maximises the number of matched
    pairs and then, among such assignments, their summed IoU. With the default threshold of 0.5 a
    cell can have at most one partner above the threshold, so the matching is unique except for
    exact ties at IoU 0.5.

    Parameters
    ----------
    reference
        Integer label image of the reference segmentation: 0 is background, every positive value is
        one cell. Ids need not be contiguous. Any number of dimensions (2-D or 3-D).
    prediction
        Integer label image of the predicted segmentation, same shape as ``reference``.
    iou_threshold
        Pairs whose IoU is at least this value count as true positives; must be in ``(0, 1]``.
        The comparison is exact: a pair with IoU exactly equal to the threshold is a match.

    Returns
    -------
    The counts, precision, recall, F1, mean matched IoU, panoptic quality and the matched id pairs.

    Notes
    -----
    Edge cases: with no predicted cells, precision is 0 (and with no reference cells, recall is 0),
    as is F1 and panoptic quality whenever nothing is matched. The one exception is when *both*
    images are empty: the prediction then agrees perfectly with the reference, so precision, recall,
    F1 and panoptic quality are all 1.0. ``mean_matched_iou`` is ``nan`` whenever there are no matched
    pairs, because it is undefined (not 0).

    Raises
    ------
    ValueError
        If the shapes differ, an image is not of integer dtype (booleans included), a label is
        negative, or ``iou_threshold`` is outside ``(0, 1]``.

    Examples
    --------
    >>> ref = np.zeros((4, 6), dtype=int)
    >>> ref[:, :3] = 1
    >>> pred = np.zeros_like(ref)
    >>> pred[:, 1:4] = 7
    >>> match_instances(ref, pred).mean_matched_iou  # 8 shared pixels / 16 in the union
    0.5
    """
    ref = check_label_image(reference, "reference")
    pred = check_label_image(prediction, "prediction")
    if ref.shape != pred.shape:
        msg = (
            f"`reference` and `prediction` must have the same shape, got {ref.shape} and {pred.shape}. "
            "Rasterise both segmentations onto the same pixel grid (same crop and scale) first."
        )
        raise ValueError(msg)
    threshold = float(iou_threshold)
    if not 0.0 < threshold <= 1.0:
        msg = f"`iou_threshold` must be in (0, 1], got {iou_threshold}."
        raise ValueError(msg)

    ref = ref.ravel()
    pred = pred.ravel()
    ref_ids, ref_area, ref_lut = _index_labels(ref)
    pred_ids, pred_area, pred_lut = _index_labels(pred)
    n_ref, n_pred = ref_ids.size, pred_ids.size

    both = (ref > 0) & (pred > 0)
    ri = ref_lut(ref[both])
    pi = pred_lut(pred[both])
    inter = sp.coo_matrix((np.ones(ri.size, dtype=np.int64), (ri, pi)), shape=(n_ref, n_pred)).tocsr()
    inter.sum_duplicates()
    inter = inter.tocoo()
    rows, cols, n_inter = inter.row, inter.col, inter.data.astype(np.float64)
    iou = n_inter / (ref_area[rows] + pred_area[cols] - n_inter)

    cand = iou >= threshold
    rows, cols, iou = rows[cand], cols[cand], iou[cand]
    # Weight = K + IoU with K larger than any possible number of matches: maximises the number
    # of matches first and the summed IoU second.
    big = float(min(n_ref, n_pred) + 1)
    edges = max_weight_matching(rows, cols, big + iou, n_ref, n_pred)
    mr, mc, matched_iou = rows[edges], cols[edges], iou[edges]

    tp = int(mr.size)
    fp = n_pred - tp
    fn = n_ref - tp
    iou_sum = math.fsum(matched_iou.tolist())
    if n_ref == 0 and n_pred == 0:
        precision = recall = f1 = pq = 1.0
    else:
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_ref if n_ref else 0.0
        f1 = 2 * tp / (n_ref + n_pred)
        pq = 2 * iou_sum / (n_ref + n_pred)
    mean_iou = iou_sum / tp if tp else math.nan

    matched_reference = ref_ids[mr]
    matched_prediction = pred_ids[mc]
    for arr in (matched_reference, matched_prediction, matched_iou):
        arr.flags.writeable = False
    return InstanceScores(
        n_reference=n_ref,
        n_prediction=n_pred,
        tp=tp,
        fp=fp,
        fn=fn,
        precision=precision,
        recall=recall,
        f1=f1,
        mean_matched_iou=mean_iou,
        panoptic_quality=pq,
        iou_threshold=threshold,
        matched_reference=matched_reference,
        matched_prediction=matched_prediction,
        matched_iou=matched_iou,
    )


def _index_labels(flat: np.ndarray):
    """Distinct positive ids, their pixel counts, and a function mapping ids to ``0..n-1``."""
    flat_max = int(flat.max()) if flat.size else 0
    if flat_max <= 4 * flat.size + 1_000_000:
        area = np.bincount(flat.astype(np.intp, copy=False), minlength=flat_max + 1)
        area[0] = 0
        ids = np.flatnonzero(area)
        lut = np.full(flat_max + 1, -1, dtype=np.int64)
        lut[ids] = np.arange(ids.size)
        return ids.astype(np.int64), area[ids].astype(np.float64), lambda v: lut[v]
    # Sparse, huge ids: sort instead of a dense lookup table.
    ids, area = np.unique(flat, return_counts=True)
    if ids.size and ids[0] == 0:
        ids, area = ids[1:], area[1:]
    return ids.astype(np.int64), area.astype(np.float64), lambda v: np.searchsorted(ids, v)
