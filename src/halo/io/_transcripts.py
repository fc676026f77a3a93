"""Transcripts: loading, quality and control-probe filtering, and mapping into image pixels."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

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
    feature_key = feature_key_of(points)
    columns = ["x", "y", feature_key] + (["qv"] if min_qv is not None and "qv" in points.columns else [])
    frame = points[columns].compute()
    names = frame[feature_key]
    codes, categories = _as_codes(names)
    is_control = control_mask(categories, control_pattern)
    keep_gene = ~is_control
    if len(categories) and not keep_gene.any():
        msg = (
            f"Every gene of points element {points_key!r} matches the control pattern {control_pattern!r}; "
            "pass a narrower `control_pattern=` (or None to keep all)."
        )
        raise ValueError(msg)
    new_index = np.full(len(categories) + 1, -1, dtype=np.int32)
    new_index[:-1][keep_gene] = np.arange(int(keep_gene.sum()), dtype=np.int32)
    gene = new_index[codes]  # code -1 (missing name) maps to the sentinel at the end
    n_control = int(((codes >= 0) & ~keep_gene[np.maximum(codes, 0)]).sum() + (codes < 0).sum())

    n_low = 0
    if "qv" in columns:
        low = ~(frame["qv"].to_numpy(dtype=np.float64) >= min_qv) & (gene >= 0)
        n_low = int(low.sum())
        gene[low] = -1

    xy = np.column_stack([frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64)])
    px = xy @ to_pixels[:2, :2].T + to_pixels[:2, 2]
    invalid = ~np.isfinite(px).all(axis=1) & (gene >= 0)
    gene[invalid] = -1
    genes = [str(g) for g in np.asarray(categories)[keep_gene]]
    logger.info(
        "%s: %d transcripts, %d genes kept; dropped %d control, %d below qv %s, %d with invalid coordinates",
        points_key, len(gene), len(genes), n_control, n_low, min_qv, int(invalid.sum()),
    )  # fmt: skip
    return Transcripts(
        x=px[:, 0], y=px[:, 1], gene=gene, genes=genes, n_control=n_control, n_low_quality=n_low,
        n_invalid=int(invalid.sum()),
    )  # fmt: skip


def _as_codes(names: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for missing) and categories of a gene column, categorical or not."""
    if isinstance(names.dtype, pd.CategoricalDtype):
        categorical = names.cat
        return categorical.codes.to_numpy(np.int64), categorical.categories
    codes, categories = pd.factorize(names, sort=True)
    return codes.astype(np.int64), pd.Index(categories)
