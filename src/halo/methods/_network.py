"""The pretrained network over a tile, shared by the plug-ins that use it (the halo method, the network's nuclei)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._tiling import Box, SlideGrid
from ._base import IMAGE, Reads, Slide, TileData

if TYPE_CHECKING:
    from ..model import SlideStatistics


@dataclass(frozen=True)
class SlideNetwork:
    """The network on its device, and the slide-wide scaling of its inputs."""

    net: Any
    stats: SlideStatistics
    key: str
    """Names the weights and device: plug-ins with the same key share one prediction per tile."""

    @classmethod
    def of(cls, slide: Slide) -> SlideNetwork:
        """The run's network (``options.weights`` on ``options.device``), loaded once per slide."""
        from .. import model

        weights, device = slide.options.weights, slide.options.device
        key = f"{weights or model.PRETRAINED}@{device}"
        if key not in slide.shared:
            net = model.pretrained() if weights is None else model.load_weights(weights)
            net = model.for_inference(net, model.pick_device(device))
            loadings, density = slide.embedding
            stats = model.SlideStatistics(slide.stain.low, slide.stain.high, density, loadings)
            slide.shared[key] = cls(net=net, stats=stats, key=key)
        return slide.shared[key]

    def reads(self, window: Box, grid: SlideGrid) -> Reads:
        """The image and transcripts the network needs to predict ``window``."""
        raw = self.raw_box(window, grid)
        return Reads({IMAGE: raw}, transcripts=raw)

    def raw_box(self, window: Box, grid: SlideGrid) -> Box:
        """Native box of the data the network needs to predict ``window`` on the slide's fixed patch grid."""
        return patch_box(window, grid, model_um=grid.grid_um_per_px, smooth_um=self.net.config.smooth_um)

    def probabilities(self, data: TileData, needed: np.ndarray | None = None) -> np.ndarray:
        """uint8 ``(3, h, w)`` cell, boundary and nucleus probabilities over the tile's window, on the working grid.

        ``needed``: a mask of the window; patches that hold none of its pixels are not run (their output is 0).
        The whole window's prediction is kept for the other plug-ins of the tile; a masked one is not.
        """
        from ..model import predict_region

        cached = data.shared.get(("probabilities", self.key))
        if cached is not None:
            return cached
        grid = data.grid
        raw = self.raw_box(data.tile.window, grid)
        tx = data.transcripts_in(raw)
        window_tx = (tx["x"] - raw.x0, tx["y"] - raw.y0, tx["gene"])
        probabilities = predict_region(
            self.net, np.asarray(data.raster(IMAGE, raw)), window_tx, self.stats,
            raw_model=raw.binned(grid.factor).bounds, want_model=data.box.bounds, slide_model=grid.grid_shape,
            factor=grid.factor, um_per_px=grid.um_per_px, needed=needed,
        )  # fmt: skip
        if needed is None:
            data.shared[("probabilities", self.key)] = probabilities
        return probabilities


def patch_box(window: Box, grid: SlideGrid, **reach: Any) -> Box:
    """Native box of the data that the slide-fixed patches predicting ``window`` read.

    ``reach``: the options of :func:`halo.model.patch_reach` (the patch grid, the features' smoothing).
    """
    from ..model import patch_reach

    return grid.native(Box(*patch_reach(window.binned(grid.factor).bounds, grid.grid_shape, **reach)))
