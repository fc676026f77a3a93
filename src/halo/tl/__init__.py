"""Tools: segmentation."""

from ._segment import segment

__all__ = ["segment"]
