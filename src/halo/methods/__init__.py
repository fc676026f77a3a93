"""Segmentation methods and nucleus sources, as plug-ins of :func:`halo.tl.segment`.

A run takes its nuclei from one :class:`NucleusSource` (``nuclei_source=`` or ``nuclei_key=``) and grows cells
from them with one :class:`Method` (``method=``). Both are looked up by name in :data:`METHODS` and
:data:`NUCLEUS_SOURCES`; :func:`register_method` and :func:`register_nucleus_source` add your own, which then work
everywhere halo's do (``halo.tl.segment``, the command line, provenance). See ``docs/contributing.md``.
"""

from ._base import (
    IMAGE,
    METHODS,
    NUCLEUS_SOURCES,
    Cells,
    Method,
    NucleusSource,
    NucleusTile,
    Reads,
    Slide,
    TileData,
    register_method,
    register_nucleus_source,
)
from ._expansion import ExpansionMethod, expand_nuclei
from ._halo import BOUNDARY_WEIGHT_UM, HaloMethod, cell_confidence, decode_cells, nucleus_distance
from ._network import SlideNetwork
from ._nuclei import (
    DapiStatistics,
    NucleusOptions,
    NucleusPolygons,
    dapi_statistics,
    detect_nuclei,
    keyed_by_first_pixel,
    nuclei_from_labels,
    nuclei_from_probability,
    stain_range,
)
from ._nuclei_network import nuclei_from_network
from ._nucleus_sources import (
    ImageNuclei,
    LabelsNuclei,
    LearnedNuclei,
    NetworkNuclei,
    ShapesNuclei,
    nucleus_source_for,
)

__all__ = [
    "BOUNDARY_WEIGHT_UM",
    "IMAGE",
    "METHODS",
    "NUCLEUS_SOURCES",
    "Cells",
    "DapiStatistics",
    "ExpansionMethod",
    "HaloMethod",
    "ImageNuclei",
    "LabelsNuclei",
    "LearnedNuclei",
    "Method",
    "NetworkNuclei",
    "NucleusOptions",
    "NucleusPolygons",
    "NucleusSource",
    "NucleusTile",
    "Reads",
    "ShapesNuclei",
    "Slide",
    "SlideNetwork",
    "TileData",
    "cell_confidence",
    "dapi_statistics",
    "decode_cells",
    "detect_nuclei",
    "expand_nuclei",
    "keyed_by_first_pixel",
    "nuclei_from_labels",
    "nuclei_from_network",
    "nuclei_from_probability",
    "nucleus_distance",
    "nucleus_source_for",
    "register_method",
    "register_nucleus_source",
    "stain_range",
]
