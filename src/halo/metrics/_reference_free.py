"""Segmentation quality without a reference: capture, cell sizes, marker co-expression and purity."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._instance import _index_labels
from ._validation import check_id_vector, check_label_image

__all__ = [
    "DistributionSummary",
    "PurityScores",
    "cell_areas",
    "cell_type_purity",
    "coexpression_rates",
    "exclusive_marker_pairs",
    "fraction_assigned",
    "mecr",
    "merge_marker_types",
    "read_marker_table",
    "transcripts_per_cell",
]

logger = logging.getLogger(__name__)

Markers = Mapping[str, Iterable[str]]


# --------------------------------------------------------------------------------------------------
# Capture and size
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)  # holds arrays: compare `as_dict()` instead
class DistributionSummary:
    """Summary of a per-cell quantity (returned by :func:`transcripts_per_cell` and :func:`cell_areas`).

    Attributes
    ----------
    n
        Number of cells.
    mean, median, q10, q90
        Mean, median and 10th / 90th percentiles over cells (``nan`` when there are no cells).
    values
        The per-cell values, indexed by cell id (index name ``"cell_id"``).
    """

    n: int
    mean: float
    median: float
    q10: float
    q90: float
    values: pd.Series = field(repr=False)

    def as_dict(self) -> dict[str, float]:
        """Return the scalar summary (everything but ``values``) as a plain ``dict``."""
        return {"n": self.n, "mean": self.mean, "median": self.median, "q10": self.q10, "q90": self.q90}


def _summarise(ids: np.ndarray, values: np.ndarray, name: str) -> DistributionSummary:
    series = pd.Series(values, index=pd.Index(ids, name="cell_id"), name=name)
    if values.size == 0:
        return DistributionSummary(n=0, mean=math.nan, median=math.nan, q10=math.nan, q90=math.nan, values=series)
    q10, median, q90 = np.quantile(values, [0.1, 0.5, 0.9])
    return DistributionSummary(
        n=int(values.size),
        mean=float(values.mean()),
        median=float(median),
        q10=float(q10),
        q90=float(q90),
        values=series,
    )


def fraction_assigned(cell_ids: np.ndarray) -> float:
    """Fraction of transcripts assigned to a cell.

    Parameters
    ----------
    cell_ids
        Cell id of every transcript; values ``<= 0`` mean unassigned.

    Returns
    -------
    The fraction of ids ``> 0``; ``nan`` for an empty array.

    Notes
    -----
    Capture trades off against purity: growing cells always raises this fraction and worsens
    :func:`mecr`. Compare methods on both, or on one at equal value of the other.
    """
    ids = check_id_vector(cell_ids, "cell_ids")
    return float((ids > 0).mean()) if ids.size else math.nan


def transcripts_per_cell(cell_ids: np.ndarray) -> DistributionSummary:
    """Count the transcripts of every cell from per-transcript cell ids.

    Parameters
    ----------
    cell_ids
        Cell id of every transcript; values ``<= 0`` mean unassigned and are ignored.

    Returns
    -------
    Count, mean, median and 10th / 90th percentiles over cells, plus the per-cell counts indexed by
    cell id. Only cells with at least one transcript appear (a cell without transcripts is invisible
    in per-transcript ids; use a count matrix to include them).
    """
    ids = check_id_vector(cell_ids, "cell_ids")
    cells, counts = np.unique(ids[ids > 0], return_counts=True)
    return _summarise(cells, counts, "n_transcripts")


def cell_areas(labels: np.ndarray, *, pixel_size: float = 1.0) -> DistributionSummary:
    """Area of every cell in a label image.

    Parameters
    ----------
    labels
        Integer label image, 0 = background.
    pixel_size
        Side length of a pixel; areas are reported in ``pixel_size ** 2`` units (e.g. pass the
        micrometres per pixel to get um^2). For a 3-D image this gives voxel counts times ``pixel_size ** 2``.

    Returns
    -------
    Count, mean, median and 10th / 90th percentiles of the areas, plus the per-cell areas indexed by label id.
    """
    arr = check_label_image(labels, "labels")
    ids, area, _ = _index_labels(arr.ravel())
    return _summarise(ids, area * float(pixel_size) ** 2, "area")


# --------------------------------------------------------------------------------------------------
# Marker tables
# --------------------------------------------------------------------------------------------------


def _normalise_markers(markers: Markers) -> dict[str, list[str]]:
    if not isinstance(markers, Mapping):
        msg = f"`markers` must be a mapping from cell type to marker genes, got {type(markers).__name__}."
        raise ValueError(msg)
    out: dict[str, list[str]] = {}
    for cell_type, genes in markers.items():
        gene_list = [genes] if isinstance(genes, str) else list(genes)
        out[str(cell_type)] = list(dict.fromkeys(str(g) for g in gene_list))
    return out


def read_marker_table(path: str | os.PathLike[str], *, transpose: bool = False) -> dict[str, list[str]]:
    """Read a marker table from a CSV file into ``{cell type: [marker genes]}``.

    Two layouts are recognised:

    - wide: a binary matrix with one row per cell type (first column) and one column per gene, where a
      non-zero entry marks the gene as a marker of the type (the layout of the ``sc_breast_markers_pos.csv``
      tables); pass ``transpose=True`` when genes are rows and cell types columns;
    - long: exactly two text columns with a header, cell type first, gene second, one marker per row.

    Parameters
    ----------
    path
        CSV file.
    transpose
        For the wide layout, read genes as rows and cell types as columns.

    Returns
    -------
    Marker genes per cell type, in file order. Cell types without any marker are kept with an empty list.

    Raises
    ------
    ValueError
        If the table is neither layout (e.g. a wide table with non-numeric entries).
    """
    table = pd.read_csv(path)
    if table.shape[1] == 2 and not pd.api.types.is_numeric_dtype(table.iloc[:, 1]):
        markers: dict[str, list[str]] = {}
        for cell_type, gene in table.dropna().itertuples(index=False):
            markers.setdefault(str(cell_type), []).append(str(gene))
        return _normalise_markers(markers)

    wide = table.set_index(table.columns[0])
    if transpose:
        wide = wide.T
    values = wide.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & wide.notna()
    if bad.to_numpy().any():
        msg = (
            f"Cannot read {os.fspath(path)!r} as a marker table: a wide table must hold numbers (non-zero = marker), "
            "and a long table exactly two columns (cell type, gene)."
        )
        raise ValueError(msg)
    mask = values.fillna(0).to_numpy() != 0
    return {str(t): [str(g) for g in wide.columns[row]] for t, row in zip(wide.index, mask, strict=True)}


def merge_marker_types(markers: Markers, groups: Mapping[str, str]) -> dict[str, list[str]]:
    """Merge fine cell types into major types by pooling their markers.

    Parameters
    ----------
    markers
        Marker genes per (fine) cell type.
    groups
        Major type of each fine type, e.g. ``{"CD4T": "T", "CD8T": "T"}``. Types not listed keep their name.

    Returns
    -------
    Marker genes per major type (union of the members' markers, without duplicates).
    """
    merged: dict[str, list[str]] = {}
    for cell_type, genes in _normalise_markers(markers).items():
        target = merged.setdefault(str(groups.get(cell_type, cell_type)), [])
        target.extend(g for g in genes if g not in target)
    return merged


def _gene_type_matrix(markers: dict[str, list[str]]) -> tuple[pd.Index, list[str], np.ndarray]:
    """Boolean gene-by-type membership matrix of the marker genes."""
    types = list(markers)
    genes = pd.Index(list(dict.fromkeys(g for gs in markers.values() for g in gs)), dtype=object)
    member = np.zeros((genes.size, len(types)), dtype=bool)
    for j, cell_type in enumerate(types):
        member[genes.get_indexer(markers[cell_type]), j] = True
    return genes, types, member


def _restrict_to_panel(markers: dict[str, list[str]], panel: pd.Index) -> dict[str, list[str]]:
    present = set(panel)
    missing = sorted({g for gs in markers.values() for g in gs} - present)
    if missing:
        logger.warning(
            "%d marker genes are not in the data and are ignored: %s%s",
            len(missing),
            ", ".join(missing[:10]),
            ", ..." if len(missing) > 10 else "",
        )
    return {t: [g for g in gs if g in present] for t, gs in markers.items()}


def exclusive_marker_pairs(
    markers: Markers,
    *,
    genes: Iterable[str] | None = None,
    specific_only: bool = False,
) -> list[tuple[str, str]]:
    """Pairs of marker genes that should not be co-expressed in one cell.

    Two genes form a pair when no cell type in ``markers`` has both as markers, i.e. their sets of
    types are disjoint. A marker shared by related types (say ACTA2 for fibroblasts and smooth muscle)
    is thus paired only with markers of other types. Merge closely related types first with
    :func:`merge_marker_types` so that their markers are not counted as exclusive.

    Parameters
    ----------
    markers
        Marker genes per cell type, e.g. from :func:`read_marker_table`.
    genes
        If given, only these genes (e.g. the panel) are used.
    specific_only
        Use only genes that mark exactly one type.

    Returns
    -------
    Sorted list of ``(gene_a, gene_b)`` with ``gene_a < gene_b``.
    """
    norm = _normalise_markers(markers)
    if genes is not None:
        panel = set(map(str, genes))
        norm = {t: [g for g in gs if g in panel] for t, gs in norm.items()}
    names, _, member = _gene_type_matrix(norm)
    if specific_only:
        keep = member.sum(1) == 1
        names, member = names[keep], member[keep]
    order = np.argsort(names.to_numpy().astype(str), kind="stable")
    names, member = names[order], member[order]
    shared = member.astype(np.int64) @ member.T.astype(np.int64)
    ia, ib = np.nonzero(np.triu(shared == 0, k=1))
    return [(str(names[a]), str(names[b])) for a, b in zip(ia, ib, strict=True)]


# --------------------------------------------------------------------------------------------------
# Count matrices
# --------------------------------------------------------------------------------------------------


def _count_matrix(data: object, genes: Sequence[str] | None, layer: str | None) -> tuple[object, pd.Index]:
    """Cell-by-gene counts (CSR or ndarray) and gene names from an AnnData, a DataFrame or a matrix."""
    if hasattr(data, "var_names") and hasattr(data, "X") and hasattr(data, "layers"):  # AnnData, not imported
        if genes is not None:
            msg = "`genes` is taken from `adata.var_names` for an AnnData; do not pass it."
            raise ValueError(msg)
        matrix = data.layers[layer] if layer is not None else data.X
        names = pd.Index(data.var_names)
    else:
        if layer is not None:
            msg = "`layer` only applies to an AnnData input."
            raise ValueError(msg)
        if isinstance(data, pd.DataFrame):
            if genes is not None:
                msg = "`genes` is taken from the DataFrame's columns; do not pass it."
                raise ValueError(msg)
            matrix, names = data.to_numpy(), pd.Index(data.columns)
        else:
            if genes is None:
                msg = (
                    "A bare count matrix needs gene names: pass `genes=` (one name per column), "
                    "or pass an AnnData with genes in `var_names` or a DataFrame with genes as columns."
                )
                raise ValueError(msg)
            matrix, names = data, pd.Index(list(genes))
    if sp.issparse(matrix):
        matrix = sp.csr_matrix(matrix)
    else:
        matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[1] != names.size:
        msg = f"The count matrix must be cells x genes with {names.size} gene columns, got shape {matrix.shape}."
        raise ValueError(msg)
    names = pd.Index(names.astype(str))
    if not names.is_unique:
        dup = names[names.duplicated()].unique()[:5].tolist()
        msg = f"Gene names must be unique, found duplicates such as {dup}."
        raise ValueError(msg)
    return matrix, names


def _detected(
    matrix: object, cols: np.ndarray, min_counts: float, min_marker_counts: float = 1
) -> tuple[sp.csr_matrix, int]:
    """Binary detection matrix of the given columns, for cells with total >= ``min_counts``.

    A gene is detected when its count is > 0 (``min_marker_counts <= 1``) or >= ``min_marker_counts``.
    """
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    keep = totals >= min_counts
    sub = matrix[keep][:, cols]
    hit = (sub > 0) if min_marker_counts <= 1 else (sub >= min_marker_counts)
    detected = sp.csr_matrix(hit, dtype=np.int64) if sp.issparse(hit) else sp.csr_matrix(hit.astype(np.int64))
    return detected, int(keep.sum())


def coexpression_rates(
    data: object,
    pairs: Iterable[tuple[str, str]],
    *,
    genes: Sequence[str] | None = None,
    layer: str | None = None,
    min_counts: float = 10,
) -> pd.DataFrame:
    """Co-expression rate of each gene pair over cells: ``P(both > 0) / P(either > 0)``.

    Parameters
    ----------
    data
        Cell-by-gene raw counts: an AnnData (genes in ``var_names``), a DataFrame (genes as columns), or
        a dense / sparse matrix together with ``genes``.
    pairs
        Gene pairs, e.g. from :func:`exclusive_marker_pairs`. Pairs with a gene missing from the data are
        dropped (with a logged warning).
    genes
        Gene name of each column when ``data`` is a bare matrix.
    layer
        AnnData layer to read instead of ``X``.
    min_counts
        Only cells with at least this many counts in total (over all genes) are used.

    Returns
    -------
    One row per pair with columns ``gene_a``, ``gene_b``, ``n_a``, ``n_b`` (cells detecting each gene),
    ``n_both``, ``n_either`` and ``rate`` (``n_both / n_either``, ``nan`` when neither gene is detected).
    """
    matrix, names = _count_matrix(data, genes, layer)
    pair_list = [(str(a), str(b)) for a, b in pairs]
    present = set(names)
    kept = [p for p in pair_list if p[0] in present and p[1] in present]
    if len(kept) < len(pair_list):
        logger.warning(
            "%d of %d gene pairs involve genes not in the data and are ignored.",
            len(pair_list) - len(kept),
            len(pair_list),
        )
    columns = ["gene_a", "gene_b", "n_a", "n_b", "n_both", "n_either", "rate"]
    if not kept:
        return pd.DataFrame(columns=columns)
    used = pd.Index(list(dict.fromkeys(g for p in kept for g in p)))
    detected, _ = _detected(matrix, names.get_indexer(used), min_counts)
    co = (detected.T @ detected).toarray()
    ia = used.get_indexer([p[0] for p in kept])
    ib = used.get_indexer([p[1] for p in kept])
    n_a, n_b, n_both = co[ia, ia], co[ib, ib], co[ia, ib]
    n_either = n_a + n_b - n_both
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_either > 0, n_both / np.maximum(n_either, 1), np.nan)
    return pd.DataFrame(
        {
            "gene_a": [p[0] for p in kept],
            "gene_b": [p[1] for p in kept],
            "n_a": n_a,
            "n_b": n_b,
            "n_both": n_both,
            "n_either": n_either,
            "rate": rate,
        },
        columns=columns,
    )


def mecr(
    data: object,
    markers: Markers | Iterable[tuple[str, str]],
    *,
    genes: Sequence[str] | None = None,
    layer: str | None = None,
    min_counts: float = 10,
    specific_only: bool = False,
) -> float:
    """Mutually exclusive co-expression rate (MECR); lower is better.

    For each pair of genes that mark different cell types, the rate ``P(both > 0) / P(either > 0)``
    over cells is computed, and MECR is its mean over pairs. A cell that mixes transcripts of two
    neighbouring cells of different types detects markers of both, so contamination raises MECR.

    Parameters
    ----------
    data
        Cell-by-gene raw counts: an AnnData (genes in ``var_names``), a DataFrame (genes as columns), or
        a dense / sparse matrix together with ``genes``.
    markers
        Either marker genes per cell type (pairs are then built with :func:`exclusive_marker_pairs` from
        the markers present in the data), or an explicit iterable of ``(gene_a, gene_b)`` pairs.
    genes
        Gene name of each column when ``data`` is a bare matrix.
    layer
        AnnData layer to read instead of ``X``.
    min_counts
        Only cells with at least this many counts in total are used.
    specific_only
        When ``markers`` is a mapping, use only genes that mark exactly one type.

    Returns
    -------
    The mean co-expression rate over pairs in which at least one gene is detected in some cell (the
    rate of a pair never detected is undefined and is left out); ``nan`` if there is no such pair.
    Use :func:`coexpression_rates` for the per-pair values.

    Notes
    -----
    Larger cells inflate MECR: the more transcripts a cell holds, the more likely it detects any marker,
    including the few stray or mis-assigned molecules of another type. Expanding cells therefore raises
    both capture (:func:`fraction_assigned`) and MECR; compare segmentations at matched capture (or
    matched transcripts per cell), not at their own default sizes. The rate ignores cells detecting
    neither gene, so the number of empty cells does not change it.
    """
    if isinstance(markers, Mapping):
        _, names = _count_matrix(data, genes, layer)
        norm = _restrict_to_panel(_normalise_markers(markers), names)
        pairs = exclusive_marker_pairs(norm, specific_only=specific_only)
    else:
        pairs = list(markers)
    if not pairs:
        msg = "No exclusive marker pairs to score: give markers of at least two cell types present in the data."
        raise ValueError(msg)
    rates = coexpression_rates(data, pairs, genes=genes, layer=layer, min_counts=min_counts)["rate"].to_numpy(float)
    rates = rates[~np.isnan(rates)]
    return float(rates.mean()) if rates.size else math.nan


@dataclass(frozen=True, slots=True)
class PurityScores:
    """Result of :func:`cell_type_purity`.

    Attributes
    ----------
    purity
        ``n_pure / n_cells``.
    n_cells
        Cells with at least ``min_counts`` counts.
    n_pure
        Cells whose detected markers are all markers of one common cell type.
    n_mixed
        Cells detecting markers that no single type shares.
    n_no_markers
        Cells detecting no marker gene at all (neither pure nor mixed).
    purity_of_typed
        ``n_pure / (n_pure + n_mixed)``: purity among cells that detect any marker.
    """

    purity: float
    n_cells: int
    n_pure: int
    n_mixed: int
    n_no_markers: int
    purity_of_typed: float

    def as_dict(self) -> dict[str, float]:
        """Return the scores as a plain ``dict``."""
        return {
            "purity": self.purity,
            "n_cells": self.n_cells,
            "n_pure": self.n_pure,
            "n_mixed": self.n_mixed,
            "n_no_markers": self.n_no_markers,
            "purity_of_typed": self.purity_of_typed,
        }


def cell_type_purity(
    data: object,
    markers: Markers,
    *,
    genes: Sequence[str] | None = None,
    layer: str | None = None,
    min_counts: float = 10,
    min_marker_counts: int = 1,
) -> PurityScores:
    """Fraction of cells whose detected markers belong to exactly one cell type; higher is better.

    A cell is pure when some cell type has *all* of the cell's detected markers (count > 0 by default) among its
    own markers. With markers shared by related types this means "consistent with one type": a cell
    detecting only ACTA2, a marker of both fibroblasts and smooth muscle, is pure, while a cell
    detecting ACTA2 and CD3E is mixed. Pass major types (see :func:`merge_marker_types`) so that
    subtypes of one lineage do not make a cell mixed.

    Parameters
    ----------
    data
        Cell-by-gene raw counts: an AnnData (genes in ``var_names``), a DataFrame (genes as columns), or
        a dense / sparse matrix together with ``genes``.
    markers
        Marker genes per cell type, e.g. from :func:`read_marker_table`; genes missing from the data are
        ignored with a logged warning.
    genes
        Gene name of each column when ``data`` is a bare matrix.
    layer
        AnnData layer to read instead of ``X``.
    min_counts
        Only cells with at least this many counts in total are scored.
    min_marker_counts
        A marker is detected in a cell when its count is at least this (default 1: count > 0). Raising
        it makes purity tolerant of a few stray molecules, which broad marker lists need on real data.

    Returns
    -------
    Purity over the scored cells (cells without any marker count as not pure), the counts of pure,
    mixed and marker-less cells, and purity among cells with markers. ``purity`` is ``nan`` when no cell
    passes ``min_counts``.

    Notes
    -----
    Like :func:`mecr`, purity worsens as cells grow and capture more of their neighbours' transcripts,
    but the share of marker-less cells falls, so read ``purity`` and ``purity_of_typed`` together and
    compare segmentations at matched capture.
    """
    matrix, names = _count_matrix(data, genes, layer)
    norm = _restrict_to_panel(_normalise_markers(markers), names)
    marker_genes, _, member = _gene_type_matrix(norm)
    if marker_genes.size == 0:
        msg = "None of the marker genes is in the data; check that `markers` and the gene names use the same symbols."
        raise ValueError(msg)
    detected, n_cells = _detected(matrix, names.get_indexer(marker_genes), min_counts, min_marker_counts)
    n_detected = np.asarray(detected.sum(axis=1)).ravel()
    per_type = detected @ member.astype(np.int64)  # cells x types: detected markers of each type
    best = np.asarray(per_type.max(axis=1)).ravel() if member.shape[1] else np.zeros(n_cells)
    has = n_detected > 0
    pure = has & (best == n_detected)
    n_pure = int(pure.sum())
    n_mixed = int((has & ~pure).sum())
    return PurityScores(
        purity=n_pure / n_cells if n_cells else math.nan,
        n_cells=n_cells,
        n_pure=n_pure,
        n_mixed=n_mixed,
        n_no_markers=n_cells - n_pure - n_mixed,
        purity_of_typed=n_pure / (n_pure + n_mixed) if n_pure + n_mixed else math.nan,
    )
