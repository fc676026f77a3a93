"""Segmentation methods: nuclei sources and the rules that turn nuclei into cells."""

from ._expansion import expand_nuclei
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

METHODS = ("halo", "expansion")

__all__ = [
    "METHODS",
    "DapiStatistics",
    "NucleusOptions",
    "NucleusPolygons",
    "NucleusTile",
    "dapi_statistics",
    "detect_nuclei",
    "expand_nuclei",
    "nuclei_from_labels",
    "nuclei_from_probability",
]
