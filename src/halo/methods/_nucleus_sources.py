"""Where a tile's nuclei come from: the nuclear image, the network, or an existing segmentation in the object."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._geometry import block_mean, block_sample, sampled_pixel
from .._tiling import Box, SlideGrid
from ._base import IMAGE, NUCLEUS_SOURCES, NucleusSource, NucleusTile, Reads, Slide, TileData, register_nucleus_source
from ._network import SlideNetwork, patch_box
from ._nuclei import (
    DapiStatistics,
    NucleusOptions,
    NucleusPolygons,
    detect_nuclei,
    keyed_by_first_pixel,
    nuclei_from_labels,
    nuclei_from_probability,
)
from ._nuclei_network import nuclei_from_network


@register_nucleus_source
@dataclass(frozen=True)
class ImageNuclei(NucleusSource):
    """Nuclei thresholded in the nuclear image (:func:`~halo.methods.detect_nuclei`), on the working grid."""

    name = "image"
    stats: DapiStatistics
    options: NucleusOptions

    @classmethod
    def create(cls, slide: Slide) -> ImageNuclei:
        """Normalisation and threshold from the whole slide, so that every tile is thresholded alike."""
        try:
            stats = slide.stain
        except ValueError as error:
            image = slide.image
            msg = f"Image {image.key!r} channel {image.channel!r}: {error} Pass the nuclear image as `image_key=`."
            raise ValueError(msg) from error
        return cls(stats, slide.options.nucleus_options)

    def reads(self, window: Box, grid: SlideGrid) -> Reads:
        """The image over the tile's window."""
        return Reads({IMAGE: window})

    def nuclei(self, data: TileData) -> NucleusTile:
        """Detect the nuclei in the window's image binned to the working grid."""
        grid = data.grid
        image = block_mean(data.raster(IMAGE), grid.factor)
        return detect_nuclei(image, data.box, grid.grid_shape[1], self.stats, self.options, grid.grid_um_per_px)


NUCLEUS_WEIGHTS = "halo_nuclei_v1"
"""The nucleus network shipped with halo (``docs/model/nucleus_net_trials.md``)."""
NUCLEUS_PATCHES = (448, 32)
"""Stride and context (working-grid pixels) of the nucleus network's slide-fixed patches (512 pixels wide)."""


@register_nucleus_source
@dataclass(frozen=True)
class LearnedNuclei(NucleusSource):
    """Nuclei from halo's nucleus network, trained on hand-annotated fluorescence nuclei (DSB2018).

    The stain is normalised by the slide's percentiles and binned to the working grid, the network predicts
    nucleus and centre-distance probabilities on patches fixed to the slide (so whichever tile asks, a pixel's
    prediction is the same), and :func:`~halo.methods.nuclei_from_network` splits touching nuclei at dips of the
    centre distance and drops those outside the size limits of ``nucleus_options``.
    """

    name = "learned"
    stats: DapiStatistics
    options: NucleusOptions
    net: Any = None

    @classmethod
    def create(cls, slide: Slide) -> LearnedNuclei:
        """The slide's stain normalisation and the network on the run's device."""
        from .. import model

        stats = ImageNuclei.create(slide).stats  # the same normalisation, and the same error on a bad image
        net = model.for_inference(model.pretrained(NUCLEUS_WEIGHTS), model.pick_device(slide.options.device))
        return cls(stats, slide.options.nucleus_options, net)

    def reads(self, window: Box, grid: SlideGrid) -> Reads:
        """The image over the network's patches around the window."""
        return Reads({IMAGE: self._raw_box(window, grid)})

    def nuclei(self, data: TileData) -> NucleusTile:
        """Predict on the window's patches, then decode the nuclei on the working grid."""
        from ..model import PatchGrid, dapi_channel, predict_on_patches

        grid, want = data.grid, data.box
        raw = self._raw_box(data.tile.window, grid)
        stain = dapi_channel(np.asarray(data.raster(IMAGE, raw)), self.stats.low, self.stats.high, grid.factor)
        outputs = predict_on_patches(
            self.net, stain[None], raw_model=raw.binned(grid.factor).bounds, want_model=want.bounds,
            slide_model=grid.grid_shape, patches=PatchGrid(*NUCLEUS_PATCHES),
        )  # fmt: skip
        config = self.net.config
        labels = nuclei_from_network(
            outputs, um_per_px=grid.grid_um_per_px, options=self.options,
            foreground_threshold=config.foreground_threshold, seed_threshold=config.seed_threshold,
            origin=(want.y0, want.x0), slide_shape=grid.grid_shape,
        )  # fmt: skip
        return keyed_by_first_pixel(labels, want, grid.grid_shape[1])

    @staticmethod
    def _raw_box(window: Box, grid: SlideGrid) -> Box:
        from ..model import PatchGrid

        return patch_box(window, grid, patches=PatchGrid(*NUCLEUS_PATCHES))


@register_nucleus_source
@dataclass(frozen=True)
class NetworkNuclei(NucleusSource):
    """Nuclei from the network's nucleus probability (:func:`~halo.methods.nuclei_from_probability`)."""

    name = "model"
    needs_embedding = True
    options: NucleusOptions
    network: SlideNetwork | None = None

    @classmethod
    def create(cls, slide: Slide) -> NetworkNuclei:
        """The source with the run's nucleus options; the network is loaded in :meth:`prepare`."""
        return cls(slide.options.nucleus_options)

    def prepare(self, slide: Slide) -> NetworkNuclei:
        """Load the network (the method's own when it uses the same one)."""
        return replace(self, network=SlideNetwork.of(slide))

    def reads(self, window: Box, grid: SlideGrid) -> Reads:
        """The image and transcripts of the network's patches over the window."""
        return self.network.reads(window, grid)

    def nuclei(self, data: TileData) -> NucleusTile:
        """Threshold and split the nucleus probability over the whole window (kept for the method to reuse)."""
        grid = data.grid
        probability = self.network.probabilities(data)[2]
        return nuclei_from_probability(probability, data.box, grid.grid_shape[1], self.options, grid.grid_um_per_px)


@register_nucleus_source
@dataclass(frozen=True)
class LabelsNuclei(NucleusSource):
    """An existing nucleus label image on the nuclear image's pixel grid; keys are its label values."""

    name = "labels"
    raster: str

    @classmethod
    def create(cls, slide: Slide) -> LabelsNuclei:
        """Check that the labels element lies on the image's grid and let the tiles read it."""
        from ..io import labels_on_image_grid

        key = _nuclei_key(slide, cls.name)
        raster = f"labels:{key}"
        slide.rasters[raster] = labels_on_image_grid(slide.sdata, key, slide.image.key, slide.grid.shape)
        return cls(raster)

    def reads(self, window: Box, grid: SlideGrid) -> Reads:
        """The labels over the tile's window."""
        return Reads({self.raster: window})

    def nuclei(self, data: TileData) -> NucleusTile:
        """The label at the centre of each working-grid pixel's block."""
        grid = data.grid
        labels = block_sample(np.asarray(data.raster(self.raster)), grid.factor)
        return nuclei_from_labels(labels, data.box, grid.grid_shape[1])


@register_nucleus_source
@dataclass(frozen=True)
class ShapesNuclei(NucleusSource):
    """An existing nucleus segmentation given as polygons; keys are their positions in the element."""

    name = "shapes"
    polygons: NucleusPolygons

    @classmethod
    def create(cls, slide: Slide) -> ShapesNuclei:
        """Map the polygons onto the working grid once; tiles rasterise the ones they meet."""
        from ..io import affine_between

        key = _nuclei_key(slide, cls.name)
        factor = slide.grid.factor
        # a grid pixel takes the nucleus at the centre of the native pixel whose label ``block_sample`` takes
        shift = 0.5 - (sampled_pixel(factor) + 0.5) / factor
        to_grid = np.array([[1 / factor, 0, shift], [0, 1 / factor, shift], [0, 0, 1.0]])
        to_grid = to_grid @ affine_between(slide.sdata, key, slide.image.key)
        return cls(NucleusPolygons.from_shapes(slide.sdata.shapes[key], to_grid))

    def nuclei(self, data: TileData) -> NucleusTile:
        """The polygons that meet the window, rasterised on the working grid."""
        return self.polygons.tile(data.box)


def _nuclei_key(slide: Slide, source: str) -> str:
    key = slide.options.nuclei_key
    if key is None:
        msg = f"The nucleus source {source!r} reads an existing segmentation: pass its element as `nuclei_key=`."
        raise ValueError(msg)
    return key


def nucleus_source_for(options, sdata) -> type[NucleusSource]:
    """The nucleus source a run uses: the element type of ``nuclei_key`` when given, else ``nuclei_source``."""
    key = options.nuclei_key
    if key is None:
        return NUCLEUS_SOURCES[options.nuclei_source]
    if key in sdata.shapes:
        return NUCLEUS_SOURCES["shapes"]
    if key in sdata.labels:
        return NUCLEUS_SOURCES["labels"]
    msg = (
        f"nuclei_key={key!r} is neither a labels nor a shapes element; "
        f"labels: {list(sdata.labels)}, shapes: {list(sdata.shapes)}."
    )
    raise KeyError(msg)
