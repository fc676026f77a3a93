"""Per-transcript comparison of a predicted cell assignment with a reference one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ._instance import InstanceScores, _index_labels
from ._matching import max_weight_matching
from ._validation import check_id_vector

__all__ = ["AssignmentScores", "assignment_scores"]


@dataclass(frozen=True, slots=True, eq=False)  # holds arrays: compare `as_dict()` instead
class AssignmentScores:
    """Result of :func:`assignment_scores`.

    Attributes
    ----------
    n_transcripts
        Number of transcripts compared.
    n_in_reference
        Transcripts inside a reference cell (reference id > 0).
    fraction_assigned
        Fraction of all transcripts that the prediction assigns to a cell (predicted id > 0).
    fraction_assigned_reference
        The same fraction for the reference, ``n_in_reference / n_transcripts``.
    ari
        Adjusted Rand index between reference and predicted cell of the transcripts inside reference
        cells, all predicted-unassigned transcripts forming one extra cluster; ``nan`` when no
        transcript lies in a reference cell.
    accuracy
        Fraction of the transcripts inside reference cells whose predicted cell is the one matched to
        their reference cell; ``nan`` when no transcript lies in a reference cell.
    precision
        Fraction of the transcripts the prediction assigns to a cell whose reference cell is the one
        matched to their predicted cell (transcripts assigned where the reference has none count as
        wrong); ``nan`` when the prediction assigns nothing.
    matching
        ``"given"`` when the reference-to-prediction matching was passed in, ``"transcripts"`` when it
        was computed from the transcripts.
    matched_reference, matched_prediction
        The one-to-one matching used, as arrays of cell ids (read-only, sorted by reference id).
    """

    n_transcripts: int
    n_in_reference: int
    fraction_assigned: float
    fraction_assigned_reference: float
    ari: float
    accuracy: float
    precision: float
    matching: str
    matched_reference: np.ndarray = field(repr=False)
    matched_prediction: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, float | str]:
        """Return the scalar scores (everything but the matching arrays) as a plain ``dict``."""
        return {
            "n_transcripts": self.n_transcripts,
            "n_in_reference": self.n_in_reference,
            "fraction_assigned": self.fraction_assigned,
            "fraction_assigned_reference": self.fraction_assigned_reference,
            "ari": self.ari,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "matching": self.matching,
        }


def assignment_scores(
    reference_ids: np.ndarray,
    predicted_ids: np.ndarray,
    *,
    matches: InstanceScores | tuple[Sequence[int], Sequence[int]] | np.ndarray | None = None,
) -> AssignmentScores:
    """Compare the cell each transcript is assigned to in a prediction with a reference.

    Parameters
    ----------
    reference_ids
        Reference cell id of every transcript; values ``<= 0`` mean unassigned.
    predicted_ids
        Predicted cell id of the same transcripts, in the same order; values ``<= 0`` mean unassigned.
        Ids of the two arrays live in separate namespaces (reference cell 5 and predicted cell 5 are
        unrelated unless matched).
    matches
        One-to-one matching of reference cells to predicted cells used by ``accuracy`` and
        ``precision``: an :class:`InstanceScores` from :func:`match_instances` (the IoU matching of the
        label images), a pair ``(reference_ids, predicted_ids)`` of equal-length id sequences, or an
        ``(n, 2)`` array of such pairs. Reference cells absent from it have no correct predicted cell.
        If ``None``, the matching is computed from the transcripts: the one-to-one assignment that
        maximises the number of transcripts whose predicted cell is the one matched to their reference
        cell (an optimal assignment on the reference-by-prediction transcript contingency table).

    Returns
    -------
    Transcript counts, assigned fractions, ARI, accuracy, precision and the matching used.

    Notes
    -----
    ARI is computed over the transcripts inside reference cells only, as in the usual definition,
    and all predicted-unassigned transcripts are treated as **one** extra cluster. Leaving transcripts
    unassigned is therefore penalised like merging them into a single cell, and a prediction that
    assigns nothing scores an ARI of 0 (unless the reference has a single cell).

    The default matching is one-to-one on purpose. Mapping every reference cell to the predicted cell
    holding most of its transcripts (a many-to-one majority map) would be more lenient but rewards
    under-segmentation: one predicted cell covering the whole field is the majority cell of every
    reference cell and would get an accuracy of 1. With a one-to-one matching, such a merge is credited
    for one reference cell only, and a split cell is credited for its largest part only. The matching
    from :func:`match_instances` is stricter still, since cells matched at IoU below the threshold get
    no credit at all; pass it when a label-image reference is available and the two scores should
    agree on which cells correspond.

    ``accuracy`` ignores transcripts outside reference cells, so growing predicted cells into the
    background is not penalised by it; ``precision`` and ``fraction_assigned`` show that side.

    Raises
    ------
    ValueError
        If the id arrays are not 1-D integer arrays of equal length, or ``matches`` is malformed
        (unequal lengths, a cell matched twice, or ids ``<= 0``).
    """
    ref = check_id_vector(reference_ids, "reference_ids")
    pred = check_id_vector(predicted_ids, "predicted_ids")
    if ref.size != pred.size:
        msg = (
            f"`reference_ids` and `predicted_ids` must have one entry per transcript each, got lengths "
            f"{ref.size} and {pred.size}. Pass the two assignments of the same transcripts in the same order."
        )
        raise ValueError(msg)
    ref = ref.astype(np.int64, copy=False)
    pred = pred.astype(np.int64, copy=False)

    in_ref = ref > 0
    assigned = pred > 0
    n_tx = int(ref.size)
    n_in_ref = int(in_ref.sum())
    n_assigned = int(assigned.sum())

    if matches is None:
        m_ref, m_pred = _match_by_transcripts(ref, pred)
        kind = "transcripts"
    else:
        m_ref, m_pred = _check_matches(matches)
        kind = "given"

    # A transcript is correct when (its reference cell, its predicted cell) is a matched pair.
    both = in_ref & assigned
    if m_ref.size and both.any():
        r, p = ref[both], pred[both]
        idx = np.clip(np.searchsorted(m_ref, r), 0, m_ref.size - 1)
        n_correct = int(((m_ref[idx] == r) & (m_pred[idx] == p)).sum())
    else:
        n_correct = 0

    if n_in_ref:
        from sklearn.metrics import adjusted_rand_score

        pred_in = np.where(assigned[in_ref], pred[in_ref], 0)  # one cluster for all unassigned
        ari = float(adjusted_rand_score(ref[in_ref], pred_in))
    else:
        ari = math.nan

    for arr in (m_ref, m_pred):
        arr.flags.writeable = False
    return AssignmentScores(
        n_transcripts=n_tx,
        n_in_reference=n_in_ref,
        fraction_assigned=n_assigned / n_tx if n_tx else math.nan,
        fraction_assigned_reference=n_in_ref / n_tx if n_tx else math.nan,
        ari=ari,
        accuracy=n_correct / n_in_ref if n_in_ref else math.nan,
        precision=n_correct / n_assigned if n_assigned else math.nan,
        matching=kind,
        matched_reference=m_ref,
        matched_prediction=m_pred,
    )


def _match_by_transcripts(ref: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching maximising the number of transcripts shared by matched cells."""
    both = (ref > 0) & (pred > 0)
    ref_ids, _, ref_index = _index_labels(ref[both])
    pred_ids, _, pred_index = _index_labels(pred[both])
    ri, pi = ref_index(ref[both]), pred_index(pred[both])
    table = sp.coo_matrix((np.ones(ri.size, dtype=np.int64), (ri, pi)), shape=(ref_ids.size, pred_ids.size)).tocsr()
    table.sum_duplicates()
    table = table.tocoo()
    edges = max_weight_matching(table.row, table.col, table.data, ref_ids.size, pred_ids.size)
    return ref_ids[table.row[edges]].astype(np.int64), pred_ids[table.col[edges]].astype(np.int64)


def _check_matches(matches: object) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``matches`` to two id arrays sorted by reference id and check it is one-to-one."""
    if isinstance(matches, InstanceScores):
        m_ref, m_pred = np.asarray(matches.matched_reference), np.asarray(matches.matched_prediction)
    else:
        arr = matches if isinstance(matches, tuple) else np.asarray(matches)
        if isinstance(arr, np.ndarray) and arr.ndim == 2 and arr.shape[1] == 2:
            m_ref, m_pred = arr[:, 0], arr[:, 1]
        elif len(arr) == 2:
            m_ref, m_pred = np.asarray(arr[0]), np.asarray(arr[1])
        else:
            msg = (
                "`matches` must be an InstanceScores from `match_instances`, a pair "
                "`(reference_ids, predicted_ids)` or an (n, 2) array of id pairs."
            )
            raise ValueError(msg)
    m_ref = check_id_vector(m_ref, "matches (reference ids)").astype(np.int64)
    m_pred = check_id_vector(m_pred, "matches (predicted ids)").astype(np.int64)
    if m_ref.size != m_pred.size:
        msg = f"`matches` needs as many reference ids as predicted ids, got {m_ref.size} and {m_pred.size}."
        raise ValueError(msg)
    if (m_ref <= 0).any() or (m_pred <= 0).any():
        msg = "`matches` pairs must hold cell ids > 0; drop pairs that involve unassigned (<= 0) ids."
        raise ValueError(msg)
    if np.unique(m_ref).size != m_ref.size or np.unique(m_pred).size != m_pred.size:
        msg = (
            "`matches` must be one-to-one: a reference or predicted cell occurs in more than one pair. "
            "Use `match_instances` or leave `matches=None` to compute a one-to-one matching."
        )
        raise ValueError(msg)
    order = np.argsort(m_ref, kind="stable")
    return m_ref[order], m_pred[order]
