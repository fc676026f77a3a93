"""The contract between halo's pipeline and its plug-ins: segmentation methods and nucleus sources.

A run of :func:`halo.tl.segment` takes one nucleus source and one method from the registries, by name. Each is

1. created once per slide (``create``), before the transcripts are read: checks, and per-slide work that needs no
   transcripts (the stain's statistics, an existing segmentation's polygons);
2. prepared once the transcripts have been read (``prepare``): per-slide work that needs their statistics (the
   network's gene embedding); what it returns is sent to every tile, so it must pickle, and must not hold the
   :class:`Slide`;
3. called once per tile, in parallel, possibly in other processes: the nucleus source finds the nuclei of the tile's
   window (``nuclei``), then the method grows one cell from each (``segment``). ``reads`` says which windows of the
   slide's rasters and which transcripts a tile must read for it.

Both work on the slide's working grid (:class:`~halo._tiling.SlideGrid`, about 0.5 um per pixel). A tile keeps the
cells whose nucleus anchors in its core, so a plug-in never needs to know about seams.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .._tiling import Box, SlideGrid, Tile

if TYPE_CHECKING:
    from spatialdata import SpatialData

    from ..io import NuclearImage
    from ._nuclei import DapiStatistics

IMAGE = "image"
"""Name of the nuclear channel among the rasters a tile reads."""


@dataclass(frozen=True)
class Reads:
    """What a plug-in's tile reads beyond its core's transcripts, as boxes of native slide pixels."""

    rasters: Mapping[str, Box] = field(default_factory=dict)
    """Raster name -> box: :data:`IMAGE` for the nuclear channel, or a name the plug-in put in ``Slide.rasters``."""
    transcripts: Box | None = None
    """Every kept transcript in this box (a tile always reads those of its core)."""

    def merged(self, other: Reads) -> Reads:
        """What both read: each raster over the smallest box holding both boxes."""
        rasters = dict(self.rasters)
        for name, box in other.rasters.items():
            rasters[name] = box if name not in rasters else rasters[name].union(box)
        boxes = [b for b in (self.transcripts, other.transcripts) if b is not None]
        transcripts = boxes[0].union(boxes[-1]) if boxes else None
        return Reads(rasters, transcripts)


@dataclass
class TileData:
    """What one tile read, handed to its nucleus source and then to its method."""

    tile: Tile
    grid: SlideGrid
    rasters: dict[str, tuple[np.ndarray, Box]]
    """Raster name -> (native pixels, the slide box they cover)."""
    transcripts: dict[str, np.ndarray]
    """``rows`` (in the points element), ``x``, ``y`` (native slide pixels) and ``gene`` of the kept transcripts in
    ``transcript_box``, in row order."""
    transcript_box: Box
    shared: dict[Any, Any] = field(default_factory=dict)
    """Results one plug-in computed for this tile that another may reuse (the network's probabilities)."""

    @property
    def box(self) -> Box:
        """The tile's window on the working grid."""
        return self.tile.window.binned(self.grid.factor)

    def raster(self, name: str, box: Box | None = None) -> np.ndarray:
        """Native pixels of raster ``name`` over ``box`` (the tile's window by default)."""
        array, read = self.rasters[name]
        box = box or self.tile.window
        if not (read.y0 <= box.y0 and box.y1 <= read.y1 and read.x0 <= box.x0 and box.x1 <= read.x1):
            msg = f"Internal error: raster {name!r} was read over {read}, not over {box}; say so in `reads`."
            raise RuntimeError(msg)
        return array[box.y0 - read.y0 : box.y1 - read.y0, box.x0 - read.x0 : box.x1 - read.x0]

    def transcripts_in(self, box: Box) -> dict[str, np.ndarray]:
        """The transcripts that lie in ``box`` (slide pixels), in row order."""
        inside = box.contains(np.floor(self.transcripts["y"]), np.floor(self.transcripts["x"]))
        return {name: values[inside] for name, values in self.transcripts.items()}


@dataclass(frozen=True)
class Cells:
    """A method's cells over a tile's window, on the working grid."""

    labels: np.ndarray
    """int32; cell ``i`` grown from nucleus ``i`` (label ``i`` of the nuclei), 0 outside every cell."""
    confidence: np.ndarray | None = None
    """Per cell, in [0, 1] (``obs["confidence"]``); ``None`` when the method has no such measure."""


@dataclass
class NucleusTile:
    """Nuclei of one tile window, on the working grid."""

    labels: np.ndarray
    """int32 label image of the window, labels ``1..n``."""
    keys: np.ndarray
    """int64 slide-wide key of each label (row ``i`` for label ``i + 1``), the same in every tile that sees it."""
    anchors: np.ndarray
    """``(n, 2)`` slide pixel ``(row, col)`` of each label on the working grid, deciding which tile owns it."""


@dataclass
class Slide:
    """What a plug-in knows of the slide it segments, in the driver (it never travels to the tiles)."""

    sdata: SpatialData
    image: NuclearImage
    points_key: str
    grid: SlideGrid
    options: Any
    """The run's :class:`~halo.tl.SegmentOptions`."""
    rasters: dict[str, Any] = field(default_factory=dict)
    """Name -> full-resolution ``(y, x)`` dask array that tiles read windows of (:data:`IMAGE`: the nuclear
    channel); a plug-in's ``create`` may add its own, on the image's pixel grid."""
    genes: list[str] = field(default_factory=list)
    """The kept genes, in the order of the transcripts' gene indices (once the transcripts have been read)."""
    embedding: tuple[np.ndarray, float] | None = None
    """``(loadings, density)`` of :func:`halo.model.gene_embedding`, computed while the transcripts are read when a
    plug-in ``needs_embedding``."""
    shared: dict[Any, Any] = field(default_factory=dict)
    """Per-slide objects plug-ins share (the network loaded once for a nucleus source and a method)."""

    def __post_init__(self):
        self.rasters.setdefault(IMAGE, self.image.data)

    @cached_property
    def stain(self) -> DapiStatistics:
        """Slide-wide normalisation and threshold of the nuclear stain (computed once, on first use)."""
        from ._nuclei import dapi_statistics

        return dapi_statistics(self.image.overview, self.options.nucleus_options)


class _PlugIn:
    """What methods and nucleus sources have in common."""

    name: ClassVar[str] = ""
    """The name it is registered and chosen under."""
    needs_embedding: ClassVar[bool] = False
    """Whether ``prepare`` needs ``Slide.embedding``."""

    @classmethod
    def create(cls, slide: Slide) -> _PlugIn:
        """The plug-in for this slide, before the transcripts are read; by default ``cls()``."""
        return cls()

    def prepare(self, slide: Slide) -> _PlugIn:
        """The plug-in ready for the tiles, once the transcripts have been read; by default itself."""
        return self

    def reads(self, window: Box, grid: SlideGrid) -> Reads:
        """What a tile whose window is ``window`` (native pixels) reads for this plug-in; by default nothing."""
        return Reads()


class Method(_PlugIn):
    """A segmentation method: grows one cell from each nucleus of a tile.

    Subclass it, set ``name``, implement :meth:`reach_um` and :meth:`segment` (and where needed ``create``,
    ``prepare`` and ``reads``), and register it with :func:`register_method`.
    """

    @classmethod
    def reach_um(cls, options: Any) -> float:
        """How far (micrometres) a cell may extend beyond its nucleus with these options; sets the tile overlap."""
        raise NotImplementedError

    def segment(self, data: TileData, nuclei: NucleusTile) -> Cells:
        """Cells over the tile's window on the working grid, cell ``i`` grown from nucleus ``i``."""
        raise NotImplementedError


class NucleusSource(_PlugIn):
    """A source of nuclei: finds the nuclei of a tile's window.

    Subclass it, set ``name``, implement :meth:`nuclei` (and where needed ``create``, ``prepare`` and ``reads``),
    and register it with :func:`register_nucleus_source`. Keys must name a nucleus alike in every tile that sees it
    (e.g. its first pixel in slide raster order, :func:`keyed_by_first_pixel`).
    """

    def nuclei(self, data: TileData) -> NucleusTile:
        """The nuclei of the tile's window on the working grid."""
        raise NotImplementedError


METHODS: dict[str, type[Method]] = {}
"""Registered methods by name (:func:`register_method`)."""
NUCLEUS_SOURCES: dict[str, type[NucleusSource]] = {}
"""Registered nucleus sources by name (:func:`register_nucleus_source`)."""


def register_method(cls: type[Method]) -> type[Method]:
    """Register a :class:`Method` subclass under its ``name``; usable as a class decorator."""
    return _register(cls, Method, METHODS)


def register_nucleus_source(cls: type[NucleusSource]) -> type[NucleusSource]:
    """Register a :class:`NucleusSource` subclass under its ``name``; usable as a class decorator."""
    return _register(cls, NucleusSource, NUCLEUS_SOURCES)


def _register(cls, base: type, registry: dict) -> type:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        msg = f"{cls!r} is not a subclass of halo.methods.{base.__name__}."
        raise TypeError(msg)
    if not isinstance(cls.name, str) or not cls.name:
        msg = f"{cls.__name__} has no `name` (a non-empty str class attribute) to register it under."
        raise ValueError(msg)
    registry[cls.name] = cls
    return cls
