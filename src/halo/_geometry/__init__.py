"""Label images to polygons, per-cell morphology, and rasters on coarser grids."""

from ._blocks import block_mean, block_sample
from ._labels import keep_largest_component, relabel_sequential_ids
from ._morphology import label_morphology
from ._polygons import labels_to_polygons

__all__ = [
    "block_mean",
    "block_sample",
    "keep_largest_component",
    "label_morphology",
    "labels_to_polygons",
    "relabel_sequential_ids",
]
