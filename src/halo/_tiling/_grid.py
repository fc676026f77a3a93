"""A grid of tiles: disjoint cores that cover the slide, each read with a margin of context around it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_UM_PER_PX = 0.5
"""Target pixel size of the grid tiles work on, for every method: the network's inputs, and the nuclei and cells of
nuclear expansion alike (a 10 um nucleus spans about 20 pixels)."""


def bin_factor(um_per_px: float) -> int:
    """Integer binning that brings ``um_per_px`` closest to :data:`GRID_UM_PER_PX`.

    An integer factor keeps the working grid aligned with the slide's pixels in every tile, so results do not depend
    on the tiling.
    """
    return max(1, round(GRID_UM_PER_PX / um_per_px))


@dataclass(frozen=True, slots=True)
class Box:
    """A half-open pixel rectangle ``[y0, y1) x [x0, x1)`` of the slide."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.y1 - self.y0, self.x1 - self.x0)

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)``, as the network's prediction takes boxes."""
        return (self.y0, self.y1, self.x0, self.x1)

    def contains(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Which slide pixels ``(rows, cols)`` lie inside the box."""
        return (rows >= self.y0) & (rows < self.y1) & (cols >= self.x0) & (cols < self.x1)

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        return Box(min(self.y0, other.y0), max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1))

    def binned(self, factor: int) -> Box:
        """The box on a grid ``factor`` times coarser; a partly covered block counts."""
        return Box(self.y0 // factor, -(-self.y1 // factor), self.x0 // factor, -(-self.x1 // factor))


@dataclass(frozen=True, slots=True)
class SlideGrid:
    """A slide's native pixels and the coarser working grid that every method segments on."""

    shape: tuple[int, int]
    """``(height, width)`` in native pixels."""
    um_per_px: float
    """Micrometres per native pixel."""
    factor: int
    """Native pixels per working-grid pixel along each axis (:func:`bin_factor`): the network's grid, for nuclear
    expansion too, so that both methods grow cells from the same nuclei and no native-resolution copy of a window's
    labels is ever made."""

    @classmethod
    def of(cls, shape: tuple[int, int], um_per_px: float) -> SlideGrid:
        """The grid of a slide of ``shape`` native pixels of ``um_per_px``."""
        return cls((int(shape[0]), int(shape[1])), float(um_per_px), bin_factor(um_per_px))

    @property
    def grid_shape(self) -> tuple[int, int]:
        """The slide's shape on the working grid."""
        return Box(0, self.shape[0], 0, self.shape[1]).binned(self.factor).shape

    @property
    def grid_um_per_px(self) -> float:
        """Micrometres per working-grid pixel."""
        return self.um_per_px * self.factor

    def native(self, box: Box) -> Box:
        """The native pixels of a box of the working grid, clipped to the slide."""
        f, (height, width) = self.factor, self.shape
        return Box(box.y0 * f, min(box.y1 * f, height), box.x0 * f, min(box.x1 * f, width))


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile: its index, the core it owns, and the larger window it reads."""

    index: int
    core: Box
    window: Box


def tile_grid(shape: tuple[int, int], core_px: int, margin_px: int) -> list[Tile]:
    """Cut a slide of ``shape`` into cores of ``core_px`` (the last row and column smaller) with margins.

    Cores partition the slide, so every pixel, transcript and cell anchor belongs to exactly one tile.
    """
    if core_px < 1 or margin_px < 0:
        msg = f"tile core must be >= 1 px and margin >= 0 px, got {core_px} and {margin_px}."
        raise ValueError(msg)
    height, width = shape
    tiles = []
    for y0 in range(0, height, core_px):
        for x0 in range(0, width, core_px):
            core = Box(y0, min(y0 + core_px, height), x0, min(x0 + core_px, width))
            window = Box(
                max(core.y0 - margin_px, 0),
                min(core.y1 + margin_px, height),
                max(core.x0 - margin_px, 0),
                min(core.x1 + margin_px, width),
            )
            tiles.append(Tile(len(tiles), core, window))
    return tiles


def tile_of_points(x: np.ndarray, y: np.ndarray, shape: tuple[int, int], core_px: int) -> np.ndarray:
    """Index of the tile whose core holds each point (pixel coordinates), -1 outside the slide."""
    height, width = shape
    cols = np.floor(x)
    rows = np.floor(y)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    n_cols = -(-width // core_px)
    with np.errstate(invalid="ignore"):
        index = (rows // core_px) * n_cols + cols // core_px
    return np.where(inside, index, -1).astype(np.int64)
