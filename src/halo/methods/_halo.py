"""The halo method: the network's cell and border probabilities, decoded into one cell per nucleus."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._geometry import keep_largest_component
from .._tiling import Box, SlideGrid
from ._base import Cells, Method, NucleusTile, Reads, Slide, TileData, register_method
from ._network import SlideNetwork

BOUNDARY_WEIGHT_UM = 3.0
"""How far (micrometres of flooding distance) a certain predicted boundary holds back a growing cell."""


@register_method
@dataclass(frozen=True)
class HaloMethod(Method):
    """The pretrained network's cells: each nucleus floods the predicted cell area up to ``max_reach_um``.

    Neighbours meet at predicted borders (:func:`decode_cells`); the network runs only where a cell can reach.
    """

    name = "halo"
    needs_embedding = True
    max_reach_um: float = 15.0
    network: SlideNetwork | None = None

    @classmethod
    def reach_um(cls, options: Any) -> float:
        """``options.max_reach_um``."""
        return options.max_reach_um

    @classmethod
    def create(cls, slide: Slide) -> HaloMethod:
        """The method with the run's reach; the network is loaded in :meth:`prepare`."""
        return cls(max_reach_um=slide.options.max_reach_um)

    def prepare(self, slide: Slide) -> HaloMethod:
        """Load the network and fix the scaling of its inputs from the slide's statistics."""
        return replace(self, network=SlideNetwork.of(slide))

    def reads(self, window: Box, grid: SlideGrid) -> Reads:
        """The image and transcripts of the network's patches over the window."""
        return self.network.reads(window, grid)

    def segment(self, data: TileData, nuclei: NucleusTile) -> Cells:
        """Decode the network's probabilities into one cell per nucleus, with its confidence."""
        grid_um = data.grid.grid_um_per_px
        reach_px = self.max_reach_um / grid_um
        distance = nucleus_distance(nuclei.labels)
        probabilities = self.network.probabilities(data, needed=distance <= reach_px)
        box = data.box
        cells = decode_cells(
            probabilities[0], probabilities[1], nuclei.labels, reach_px,
            boundary_weight_px=BOUNDARY_WEIGHT_UM / grid_um, origin=(box.y0, box.x0),
            slide_shape=data.grid.grid_shape, distance=distance,
        )  # fmt: skip
        return Cells(cells, cell_confidence(probabilities[0], probabilities[1], cells, nuclei.keys.size))


def decode_cells(
    cell_probability: np.ndarray,
    boundary_probability: np.ndarray,
    nuclei: np.ndarray,
    max_reach_px: float,
    *,
    boundary_weight_px: float = 0.0,
    origin: tuple[int, int] = (0, 0),
    slide_shape: tuple[int, int] | None = None,
    distance: np.ndarray | None = None,
) -> np.ndarray:
    """Cells grown from the nuclei over the predicted cell area, meeting where the network sees a border.

    Each nucleus floods outwards in order of distance (as nuclear expansion does), slowed where the network
    predicts a boundary, over the pixels it calls cell (or nucleus), each cell within ``max_reach_px`` of its own
    nucleus: one cell per nucleus, and no cell reaching into extracellular space. Flooding by distance rather
    than by the boundary map alone keeps one nucleus from spilling into its neighbours' cytoplasm once it crosses
    a weak rim.

    Parameters
    ----------
    cell_probability, boundary_probability
        uint8 probabilities (0-255) on the native grid.
    nuclei
        int32 nucleus labels on the native grid; label ``i`` becomes cell ``i``.
    max_reach_px
        Largest distance from its nucleus a cell may reach.
    boundary_weight_px
        Extra flooding distance at a certain boundary (probability 255), e.g. ``BOUNDARY_WEIGHT_UM / um_per_px``.
    origin, slide_shape
        Position of the window's first pixel in the slide, and the slide's shape (the window's by default). Pixels
        at equal flooding distance are taken in the slide's raster order, so a window gives the same cells
        wherever it starts (the watershed's own tie-breaking depends on the window).
    distance
        :func:`nucleus_distance` of ``nuclei``, when already computed.
    """
    from skimage.segmentation import watershed

    elevation = nucleus_distance(nuclei) if distance is None else distance.astype(np.float64)
    mask = ((cell_probability >= 128) & (elevation <= max_reach_px)) | (nuclei > 0)
    elevation += boundary_weight_px * boundary_probability.astype(np.float64) / 255
    height, width = slide_shape or nuclei.shape
    rows, cols = np.ogrid[origin[0] : origin[0] + nuclei.shape[0], origin[1] : origin[1] + nuclei.shape[1]]
    elevation += (rows * width + cols) * (1e-3 / (height * width))  # < 0.001 px: only orders exact ties
    cells = watershed(elevation, markers=nuclei, mask=mask).astype(np.int32, copy=False)
    return keep_largest_component(_within_own_reach(cells, nuclei, max_reach_px))


def nucleus_distance(nuclei: np.ndarray) -> np.ndarray:
    """Distance (pixels) from each pixel to the nearest nucleus pixel; infinite without nuclei.

    Within ``max_reach_px`` of it is where a cell can be, and so where the network must run.
    """
    from scipy import ndimage

    if not (nuclei > 0).any():
        return np.full(nuclei.shape, np.inf)
    return ndimage.distance_transform_edt(nuclei == 0)


def _within_own_reach(cells: np.ndarray, nuclei: np.ndarray, max_reach_px: float) -> np.ndarray:
    """Drop the pixels of each cell that lie farther than ``max_reach_px`` from its own nucleus."""
    from scipy import ndimage

    out = cells.copy()
    boxes = ndimage.find_objects(cells)
    for label in _may_overreach(boxes, nuclei, max_reach_px):
        box = boxes[label - 1]
        own = cells[box] == label
        distance = ndimage.distance_transform_edt(nuclei[box] != label)
        out[box][own & (distance > max_reach_px)] = 0
    return out


def _may_overreach(boxes: list, nuclei: np.ndarray, max_reach_px: float) -> np.ndarray:
    """Labels of the cells that may reach farther than ``max_reach_px`` from their nucleus; the others cannot.

    Every pixel of a cell lies within its bounding box, so within the largest distance from a corner of the box to
    any one pixel of its nucleus inside the box (distance to a point is convex): when that is within reach, so is
    the whole cell. The point taken is the centre of the box, where that is a pixel of the nucleus (a cell grown
    around its nucleus mostly has it there).
    """
    labels = np.asarray([i for i, box in enumerate(boxes, start=1) if box is not None], dtype=np.int64)
    if labels.size == 0:
        return labels
    spans = np.asarray([[b.start, b.stop - 1] for i in labels for b in boxes[i - 1]], dtype=np.int64)
    spans = spans.reshape(-1, 2, 2)  # (cell, axis, first / last pixel)
    point = spans.sum(axis=2) // 2
    farthest = np.maximum(point - spans[:, :, 0], spans[:, :, 1] - point)
    within = (nuclei[point[:, 0], point[:, 1]] == labels) & ((farthest**2).sum(axis=1) <= max_reach_px**2)
    return labels[~within]


def cell_confidence(cell_probability: np.ndarray, boundary_probability: np.ndarray, cells: np.ndarray, n: int):
    """Per-cell confidence in [0, 1]: mean predicted cell probability times (1 - boundary probability) inside it."""
    flat = cells.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:].astype(np.float64)
    inside = (cell_probability.astype(np.float64) * (255 - boundary_probability.astype(np.float64))).ravel()
    score = np.bincount(flat, weights=inside, minlength=n + 1)[1:] / 255**2
    return np.divide(score, area, out=np.zeros(n), where=area > 0)
