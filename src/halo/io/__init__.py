"""Access to SpatialData: finding the inputs, mapping coordinates, naming and reading the outputs, writing safely."""

from ._elements import (
    NuclearImage,
    affine_between,
    apply_affine,
    channel_index,
    channel_names,
    find_points_key,
    get_nuclear_image,
    labels_on_image_grid,
    microns_to_pixels,
    pixel_size_um,
    pyramid_levels,
)
from ._partition import PartitionedTranscripts, partition_transcripts
from ._segmentation import (
    INSTANCE_KEY,
    PROVENANCE_KEY,
    REGION_KEY,
    UNASSIGNED,
    Segmentation,
    SegmentationNames,
    SegmentationWarning,
    assigned_counts,
    provenance_value,
    read_segmentation,
    segmentations,
    written_by_halo,
)
from ._transcripts import (
    DEFAULT_CONTROL_PATTERN,
    TranscriptFilter,
    Transcripts,
    control_mask,
    feature_key_of,
    load_transcripts,
)
from ._validate import (
    check_image_size,
    check_outputs_are_halos,
    check_sdata,
    check_transcripts_on_image,
    find_stacklevel,
)
from ._vendors import VENDORS, FieldOfView, InputOptions, VendorDefaults, detect_vendor, fields_of_view, vendor_options
from ._write import (
    check_key_added,
    check_writable,
    is_backed,
    read_store,
    recover_interrupted_write,
    write_elements,
)
from ._xenium_ranger import XeniumRangerFiles, write_xenium_ranger

__all__ = [
    "DEFAULT_CONTROL_PATTERN",
    "INSTANCE_KEY",
    "PROVENANCE_KEY",
    "REGION_KEY",
    "UNASSIGNED",
    "VENDORS",
    "FieldOfView",
    "NuclearImage",
    "Segmentation",
    "SegmentationNames",
    "SegmentationWarning",
    "Transcripts",
    "VendorDefaults",
    "XeniumRangerFiles",
    "affine_between",
    "apply_affine",
    "assigned_counts",
    "channel_index",
    "channel_names",
    "detect_vendor",
    "fields_of_view",
    "find_points_key",
    "get_nuclear_image",
    "labels_on_image_grid",
    "load_transcripts",
    "microns_to_pixels",
    "pixel_size_um",
    "pyramid_levels",
    "read_segmentation",
    "read_store",
    "recover_interrupted_write",
    "segmentations",
    "vendor_options",
    "write_xenium_ranger",
]

# Used by halo's own packages; not part of the public API (not in __all__, not documented).
_INTERNAL = (
    InputOptions,
    PartitionedTranscripts,
    TranscriptFilter,
    check_image_size,
    check_key_added,
    check_outputs_are_halos,
    check_sdata,
    check_transcripts_on_image,
    check_writable,
    control_mask,
    feature_key_of,
    find_stacklevel,
    is_backed,
    partition_transcripts,
    provenance_value,
    write_elements,
    written_by_halo,
)
