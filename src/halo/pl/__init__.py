"""Plots: segmentations over the nuclear image, side-by-side comparisons, and quality-control distributions."""

from ._compare import compare
from ._qc import assigned_fraction, qc
from ._segmentation import segmentation

__all__ = ["assigned_fraction", "compare", "qc", "segmentation"]
