"""Label images to polygons, and per-cell morphology."""

from ._labels import keep_largest_component, relabel_sequential_ids
from ._morphology import label_morphology
from ._polygons import labels_to_polygons

__all__ = ["keep_largest_component", "label_morphology", "labels_to_polygons", "relabel_sequential_ids"]
