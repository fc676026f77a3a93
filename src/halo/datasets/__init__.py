"""Synthetic tissue and example data.

:func:`simulate` (SpatialData) and :func:`simulate_tissue` (numpy :class:`Tissue`) draw realistic fields of one of
the :data:`ARCHETYPES` with exact ground truth; :func:`synthetic` is a small, fast toy object for tests and the demo;
:func:`tiled_slide` writes a whole slide (a gigapixel in minutes) tiled from a few simulated fields, for speed and
memory measurements.
"""

from ._simulate import ARCHETYPES, PLATFORMS, Tissue, simulate, simulate_tissue
from ._synthetic import synthetic
from ._tiled import tiled_slide

__all__ = ["ARCHETYPES", "PLATFORMS", "Tissue", "simulate", "simulate_tissue", "synthetic", "tiled_slide"]
