"""Transcripts: loading, quality and control-probe filtering, and mapping into image pixels."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._elements import apply_affine

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

#: Control, blank and unassigned codewords of Xenium, MERSCOPE and CosMx (sopa's default, case-insensitive).
DEFAULT_CONTROL_PATTERN = (
    r"nan|<NA>|.*control.*|blank.*|antisense.*|unassigned.*|deprecated.*|intergenic.*|false.*|neg.*|systemcontrol.*"
)


@dataclass
class Transcripts:
    """Transcripts in the nuclear image's pixel space, with the filter already applied.

    ``x``, ``y`` and ``gene`` cover every row of the points element in its order; ``gene`` is -1 for rows that
    are dropped (control probes, low quality, invalid coordinates), otherwise an index into ``genes``.
    """

    x: np.ndarray
    y: np.ndarray
    gene: np.ndarray
    genes: list[str]
    n_control: int
    n_low_quality: int
    n_invalid: int

    @property
    def n_total(self) -> int:
        """Rows of the points element."""
        return int(self.gene.size)

    @property
    def kept(self) -> np.ndarray:
        """Boolean mask of rows that take part in segmentation and counting."""
        return self.gene >= 0


def feature_key_of(points) -> str:
    """The gene column recorded in a points element's SpatialData attributes."""
    key = points.attrs.get("spatialdata_attrs", {}).get("feature_key")
    if key is None or key not in points.columns:
        msg = (
            "The points element has no feature_key naming its gene column; "
            "parse it with PointsModel.parse(..., feature_key='<gene column>')."
        )
        raise ValueError(msg)
    return key


def control_mask(genes: pd.Index | list[str], pattern: str | None) -> np.ndarray:
    """Which gene names are control probes, by a case-insensitive full match of ``pattern``."""
    if not pattern:
        return np.zeros(len(genes), dtype=bool)
    regex = re.compile(pattern, flags=re.IGNORECASE)
    return np.array([regex.fullmatch(str(g)) is not None for g in genes], dtype=bool)


def load_transcripts(
    sdata: SpatialData,
    points_key: str,
    to_pixels: np.ndarray,
    *,
    control_pattern: str | None = DEFAULT_CONTROL_PATTERN,
    min_qv: float | None = 20.0,
) -> Transcripts:
    """Read the transcripts, drop controls and low-quality ones, and map the rest into image pixels.

    The whole element is read into memory; :func:`halo.tl.segment` streams it instead (see
    :class:`~halo.io.TranscriptFilter`).

    Parameters
    ----------
    sdata
        The SpatialData object.
    points_key
        Name of the points element.
    to_pixels
        3x3 affine from the points' space to the image's pixel space.
    control_pattern
        Regular expression (full match, case-insensitive) of gene names to drop; ``None`` keeps every gene.
    min_qv
        Minimum Phred quality in a ``qv`` column, when there is one; ``None`` keeps every transcript.
    """
    points = sdata.points[points_key]
    keep = TranscriptFilter.of(points, points_key, to_pixels, control_pattern=control_pattern, min_qv=min_qv)
    x, y, gene, dropped = keep.apply(points[keep.columns].compute())
    logger.info(
        "%s: %d transcripts, %d genes kept; dropped %d control, %d below qv %s, %d with invalid coordinates",
        points_key, len(gene), len(keep.genes), dropped["control"], dropped["low_quality"], min_qv, dropped["invalid"],
    )  # fmt: skip
    return Transcripts(
        x=x, y=y, gene=gene, genes=keep.genes, n_control=dropped["control"], n_low_quality=dropped["low_quality"],
        n_invalid=dropped["invalid"],
    )  # fmt: skip


@dataclass(frozen=True)
class TranscriptFilter:
    """Which transcripts a run keeps, and where they fall in the image: applied to any part of a points element.

    Gene codes are global (one list of names for the element), so parts filtered separately agree.
    """

    feature_key: str
    columns: list[str]
    """Columns to read."""
    categories: pd.Index
    """Every gene name of the element."""
    new_index: np.ndarray
    """Position of each name in ``categories`` -> kept-gene index, -1 for a control; one extra -1 for no name."""
    min_qv: float | None
    to_pixels: np.ndarray

    @property
    def genes(self) -> list[str]:
        """Names of the kept genes, in the order of their indices."""
        return [str(g) for g in np.asarray(self.categories)[self.new_index[:-1] >= 0]]

    @classmethod
    def of(
        cls, points, points_key: str, to_pixels: np.ndarray, *, control_pattern: str | None, min_qv: float | None
    ) -> TranscriptFilter:
        """The filter for a (lazy) points element; reads only its gene names."""
        feature_key = feature_key_of(points)
        categories = _gene_names(points[feature_key])
        keep_gene = ~control_mask(categories, control_pattern)
        if len(categories) and not keep_gene.any():
            msg = (
                f"Every gene of points element {points_key!r} matches the control pattern {control_pattern!r}; "
                "pass a narrower `control_pattern=` (or None to keep all)."
            )
            raise ValueError(msg)
        new_index = np.full(len(categories) + 1, -1, dtype=np.int32)
        new_index[:-1][keep_gene] = np.arange(int(keep_gene.sum()), dtype=np.int32)
        has_qv = min_qv is not None and "qv" in points.columns
        columns = ["x", "y", feature_key] + (["qv"] if has_qv else [])
        return cls(feature_key, columns, categories, new_index, min_qv if has_qv else None, np.asarray(to_pixels))

    def apply(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
        """``x``, ``y`` (image pixels, float64), ``gene`` (kept-gene index, -1 if dropped) and the drop counts."""
        codes = _codes_in(frame[self.feature_key], self.categories)
        gene = self.new_index[codes]  # code -1 (missing name) maps to the sentinel at the end
        n_control = int((gene < 0).sum())
        n_low = 0
        if self.min_qv is not None:
            low = ~(frame["qv"].to_numpy(dtype=np.float64) >= self.min_qv) & (gene >= 0)
            n_low = int(low.sum())
            gene[low] = -1
        xy = np.column_stack([frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64)])
        px = apply_affine(self.to_pixels, xy)
        invalid = ~np.isfinite(px).all(axis=1) & (gene >= 0)
        gene[invalid] = -1
        dropped = {"control": n_control, "low_quality": n_low, "invalid": int(invalid.sum())}
        return px[:, 0], px[:, 1], gene, dropped


def _gene_names(column) -> pd.Index:
    """Every gene name of a (lazy) gene column: a categorical's own order when it is known, sorted otherwise.

    Unknown categories are gathered from the partitions in the order their files happen to list them, which changes
    when the element is rewritten (as when halo adds its column): sorted, the table's genes keep one order.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        if getattr(column.cat, "known", True):
            return pd.Index(column.cat.categories)
        column = column.cat.as_known() if hasattr(column.cat, "as_known") else column
        return pd.Index(np.sort(np.asarray(column.cat.categories, dtype=object)))
    names = column.dropna().unique()
    names = names.compute() if hasattr(names, "compute") else names
    return pd.Index(np.sort(np.asarray(names, dtype=object)))


def _codes_in(names: pd.Series, categories: pd.Index) -> np.ndarray:
    """Position of each name in ``categories``, -1 for a missing one."""
    if isinstance(names.dtype, pd.CategoricalDtype):
        local = names.cat.codes.to_numpy(np.int64)
        to_global = np.append(categories.get_indexer(names.cat.categories), -1)
        return to_global[local]  # local -1 (missing) picks the appended -1
    return categories.get_indexer(names).astype(np.int64)
