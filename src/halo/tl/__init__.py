"""Tools: segmentation."""

from ._fovs import segment_fovs
from ._segment import segment

__all__ = ["segment", "segment_fovs"]
