"""Label images to polygons, per-cell morphology, and rasters on coarser grids."""

from ._blocks import block_mean, block_sample, sampled_pixel
from ._labels import keep_largest_component, relabel_sequential_ids
from ._morphology import label_morphology
from ._outlines import smooth_shared_outlines
from ._polygons import RASTERIO_LOCK, RaggedPolygons, labels_to_polygons, labels_to_ragged, smoothed_perimeter

__all__ = [
    "RASTERIO_LOCK",
    "RaggedPolygons",
    "block_mean",
    "block_sample",
    "keep_largest_component",
    "label_morphology",
    "labels_to_polygons",
    "labels_to_ragged",
    "relabel_sequential_ids",
    "sampled_pixel",
    "smooth_shared_outlines",
    "smoothed_perimeter",
]
