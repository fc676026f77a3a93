"""Segmentation methods: nuclei sources and the rules that turn nuclei into cells."""

from ._expansion import expand_nuclei
from ._halo import BOUNDARY_WEIGHT_UM, cell_confidence, decode_cells, nucleus_distance
from ._nuclei import (
    DapiStatistics,
    NucleusOptions,
    NucleusPolygons,
    NucleusTile,
    dapi_statistics,
    detect_nuclei,
    nuclei_from_labels,
    nuclei_from_probability,
)
from ._nuclei_network import nuclei_from_network

METHODS = ("halo", "expansion")

__all__ = [
    "BOUNDARY_WEIGHT_UM",
    "METHODS",
    "DapiStatistics",
    "NucleusOptions",
    "NucleusPolygons",
    "NucleusTile",
    "cell_confidence",
    "dapi_statistics",
    "decode_cells",
    "detect_nuclei",
    "expand_nuclei",
    "nuclei_from_labels",
    "nuclei_from_network",
    "nuclei_from_probability",
    "nucleus_distance",
]
