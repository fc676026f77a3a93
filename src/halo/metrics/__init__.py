"""Segmentation quality metrics.

With a reference segmentation: :func:`match_instances` (IoU matching of label images: precision,
recall, F1, mean matched IoU, panoptic quality) and :func:`assignment_scores` (per-transcript ARI,
accuracy and precision). Without a reference: :func:`fraction_assigned`, :func:`transcripts_per_cell`,
:func:`cell_areas`, :func:`mecr` (mutually exclusive co-expression rate) and :func:`cell_type_purity`,
with the marker helpers :func:`read_marker_table`, :func:`merge_marker_types` and
:func:`exclusive_marker_pairs`.
"""

from ._assignment import AssignmentScores, assignment_scores
from ._instance import InstanceScores, match_instances
from ._reference_free import (
    DistributionSummary,
    PurityScores,
    cell_areas,
    cell_type_purity,
    coexpression_rates,
    exclusive_marker_pairs,
    fraction_assigned,
    mecr,
    merge_marker_types,
    read_marker_table,
    transcripts_per_cell,
)

__all__ = [
    "AssignmentScores",
    "DistributionSummary",
    "InstanceScores",
    "PurityScores",
    "assignment_scores",
    "cell_areas",
    "cell_type_purity",
    "coexpression_rates",
    "exclusive_marker_pairs",
    "fraction_assigned",
    "match_instances",
    "mecr",
    "merge_marker_types",
    "read_marker_table",
    "transcripts_per_cell",
]
