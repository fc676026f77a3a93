"""The tissue simulator: twelve archetypes, exact ground truth, platform-like output.

One module per concern: ``_archetypes`` (where cells are), ``_layout`` (the layout container and point patterns),
``_geometry`` (label images), ``_dapi`` (nuclear image), ``_transcripts`` (molecules), ``_platforms`` (per-platform
settings), ``_tissue`` (:func:`simulate_tissue`, numpy) and ``_spatialdata`` (:func:`simulate`, SpatialData).
"""

from ._archetypes import ARCHETYPES
from ._platforms import PLATFORMS
from ._spatialdata import simulate
from ._tissue import Tissue, simulate_tissue

__all__ = ["ARCHETYPES", "PLATFORMS", "Tissue", "simulate", "simulate_tissue"]
