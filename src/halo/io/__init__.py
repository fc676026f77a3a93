"""Access to SpatialData: finding the inputs, mapping coordinates, and writing results back safely."""

from ._elements import (
    NuclearImage,
    affine_between,
    find_points_key,
    get_nuclear_image,
    labels_on_image_grid,
    pixel_size_um,
)
from ._partition import PartitionedTranscripts, partition_transcripts
from ._transcripts import DEFAULT_CONTROL_PATTERN, TranscriptFilter, Transcripts, load_transcripts
from ._transcripts import control_mask as control_mask  # for halo.training; not public
from ._vendors import VENDORS, FieldOfView, InputOptions, VendorDefaults, detect_vendor, fields_of_view, vendor_options
from ._write import check_key_added, check_writable, is_backed, recover_interrupted_write, write_elements

__all__ = [
    "DEFAULT_CONTROL_PATTERN",
    "VENDORS",
    "FieldOfView",
    "InputOptions",
    "VendorDefaults",
    "detect_vendor",
    "fields_of_view",
    "vendor_options",
    "NuclearImage",
    "PartitionedTranscripts",
    "TranscriptFilter",
    "Transcripts",
    "affine_between",
    "check_key_added",
    "check_writable",
    "find_points_key",
    "get_nuclear_image",
    "is_backed",
    "labels_on_image_grid",
    "load_transcripts",
    "partition_transcripts",
    "pixel_size_um",
    "recover_interrupted_write",
    "write_elements",
]
