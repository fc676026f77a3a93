"""Tools: segmentation."""

from .._pipeline import SegmentOptions
from ._fovs import segment_fovs
from ._segment import segment, segment_with

__all__ = ["SegmentOptions", "segment", "segment_fovs", "segment_with"]
