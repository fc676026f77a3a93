"""Nuclear expansion: each nucleus grows by up to a fixed distance without entering a neighbour (as Xenium does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._geometry import keep_largest_component
from ._base import Cells, Method, NucleusTile, Slide, TileData, register_method


@register_method
@dataclass(frozen=True)
class ExpansionMethod(Method):
    """Every nucleus grown by up to ``expansion_um``; each pixel goes to its nearest nucleus within that distance."""

    name = "expansion"
    expansion_um: float = 5.0

    @classmethod
    def reach_um(cls, options: Any) -> float:
        """``options.expansion_um``."""
        return options.expansion_um

    @classmethod
    def create(cls, slide: Slide) -> ExpansionMethod:
        """The method with the run's ``expansion_um``."""
        return cls(expansion_um=slide.options.expansion_um)

    def segment(self, data: TileData, nuclei: NucleusTile) -> Cells:
        """Expand the nuclei on the working grid."""
        return Cells(expand_nuclei(nuclei.labels, self.expansion_um / data.grid.grid_um_per_px))


def expand_nuclei(nuclei: np.ndarray, expansion_px: float) -> np.ndarray:
    """Grow every nucleus by up to ``expansion_px``; each pixel goes to its nearest nucleus within that distance.

    Returns a label image with the nuclei's labels, each cell one 4-connected piece that contains its nucleus'
    largest piece.
    """
    from skimage.segmentation import expand_labels

    cells = expand_labels(nuclei, distance=expansion_px) if expansion_px > 0 else nuclei.copy()
    return keep_largest_component(cells)
