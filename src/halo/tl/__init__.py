"""Tools: segmentation."""

from .._pipeline import SegmentOptions
from ._fovs import segment_fovs
from ._segment import segment, segment_with
from ._sopa import SopaSegmenter, sopa_segmenter

__all__ = ["SegmentOptions", "SopaSegmenter", "segment", "segment_fovs", "segment_with", "sopa_segmenter"]
