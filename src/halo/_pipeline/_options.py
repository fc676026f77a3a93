"""Every option of a segmentation, with its default and its checks, in one frozen object."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

from ..io import DEFAULT_CONTROL_PATTERN, check_key_added
from ..methods import METHODS, NUCLEUS_SOURCES, NucleusOptions

#: A tile core narrower than this many pixels means the pixel size is wrong, and would make millions of tiles.
MIN_TILE_PX = 32


@dataclass(frozen=True)
class SegmentOptions:
    """The options of :func:`halo.tl.segment`, checked on construction.

    Parameters
    ----------
    image_key
        Nuclear image; found automatically when one image has a DAPI-like or single channel (or from the vendor
        reader that made the object).
    points_key
        Transcripts; found automatically when there is one points element (or from the vendor reader).
    channel
        Nuclear channel name or index; by default the one named DAPI, or the only channel.
    method
        ``"halo"``: the pretrained network draws each cell from the nuclear image and the transcripts, grown from
        its nucleus up to ``max_reach_um``; ``"expansion"``: nuclei grown by up to ``expansion_um`` without
        entering a neighbour; or any method registered with :func:`halo.methods.register_method`. Every method
        works on the image binned to about 0.5 um per pixel (0.425 um on Xenium), from the same nuclei.
    nuclei_key
        Use this existing nucleus segmentation (labels on the image's pixel grid, or polygon shapes) instead of
        finding nuclei; it takes the place of ``nuclei_source``.
    nuclei_source
        Where the nuclei come from without ``nuclei_key``: ``"image"`` thresholds them in the nuclear image,
        ``"model"`` takes the network's own nucleus channel, or any source registered with
        :func:`halo.methods.register_nucleus_source`. The network's nuclei score higher on simulated tissue but
        miss dim nuclei on the real Xenium crop, so ``"image"`` is the default (see the model card).
    expansion_um
        ``method="expansion"``: largest distance a cell extends beyond its nucleus.
    max_reach_um
        ``method="halo"``: largest distance a cell extends beyond its nucleus.
    weights
        The network (``method="halo"``, ``nuclei_source="model"``): a safetensors file of fine-tuned weights
        (see :func:`halo.training.fine_tune`); the weights shipped with halo by default.
    device
        The network's torch device; by default CUDA, then MPS, then CPU. Asking for a device that is not there
        is an error, never a silent fallback.
    tile_um
        Side of a tile core. Memory grows with the square of this, not with the slide.
    overlap_um
        Width shared by neighbouring tile windows; at least twice a cell diameter (the largest nucleus diameter
        plus twice the method's reach), which is the default.
    control_pattern
        Regular expression of gene names to drop (full match, case-insensitive); ``None`` keeps all genes. The
        default matches the control probes of Xenium, MERSCOPE and CosMx; on an object of a vendor reader, that
        vendor's own pattern.
    min_qv
        Drop transcripts whose ``qv`` column is below this; ignored when there is no ``qv`` column; ``None``
        keeps all.
    um_per_px
        Micrometres per image pixel. By default derived from the transcripts-to-image transformation, which
        assumes transcripts in micrometres.
    nucleus_options
        :class:`~halo.methods.NucleusOptions` (or a mapping of its fields) for nuclei found in the image.
    key_added
        Prefix of the names written.
    scratch_dir
        Folder for the run's temporary files (the transcripts sorted by tile: about 28 bytes per transcript, and
        their cell ids), removed when the run ends; the system's temporary folder by default. On a cluster of
        several machines it must be a folder every worker can read.
    client
        A ``dask.distributed`` client to run the tiles on (a ``LocalCluster``, dask-jobqueue, Kubernetes), or
        ``"local"`` to start a ``LocalCluster`` of one single-threaded worker process per core for this run; by
        default dask's current scheduler (threads, or the active client).
    progress
        Show progress bars over the transcripts and the tiles.
    """

    image_key: str | None = None
    points_key: str | None = None
    channel: str | int | None = None
    method: str = "halo"
    nuclei_key: str | None = None
    nuclei_source: str = "image"
    expansion_um: float = 5.0
    max_reach_um: float = 15.0
    weights: str | None = None
    device: str | None = None
    tile_um: float = 500.0
    overlap_um: float | None = None
    control_pattern: str | None = DEFAULT_CONTROL_PATTERN
    min_qv: float | None = 20.0
    um_per_px: float | None = None
    nucleus_options: NucleusOptions = field(default_factory=NucleusOptions)
    key_added: str = "halo"
    scratch_dir: str | None = None
    client: Any = field(default=None, compare=False)
    progress: bool = True

    def __post_init__(self):
        for name in ("image_key", "points_key", "nuclei_key"):
            _check_optional_str(name, getattr(self, name), "an element name (str)")
        for name in ("weights", "device"):
            _check_optional_str(name, getattr(self, name), "a str")
        channel = self.channel
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, (str, int, np.integer))):
            msg = f"channel must be a channel name (str), an index (int) or None, got {channel!r}."
            raise TypeError(msg)
        _check_choice("method", self.method, METHODS, "register_method")
        _check_choice("nuclei_source", self.nuclei_source, NUCLEUS_SOURCES, "register_nucleus_source")
        check_number("expansion_um", self.expansion_um, minimum=0)
        check_number("max_reach_um", self.max_reach_um, minimum=0, strict=True)
        check_number("tile_um", self.tile_um, minimum=0, strict=True)
        check_number("overlap_um", self.overlap_um, minimum=0, optional=True)
        check_number("min_qv", self.min_qv, optional=True)
        check_number("um_per_px", self.um_per_px, minimum=0, strict=True, optional=True)
        _check_pattern(self.control_pattern)
        object.__setattr__(self, "nucleus_options", _nucleus_options(self.nucleus_options))
        check_key_added(self.key_added)
        if not isinstance(self.progress, bool):
            msg = f"progress must be True or False, got {self.progress!r}."
            raise TypeError(msg)
        if self.scratch_dir is not None:
            if not Path(self.scratch_dir).is_dir():
                msg = f"scratch_dir={str(self.scratch_dir)!r} is not an existing folder; create it or pass None."
                raise ValueError(msg)
            object.__setattr__(self, "scratch_dir", str(self.scratch_dir))
        if self.weights is not None and not Path(self.weights).is_file():
            msg = f"weights={self.weights!r} is not a file; pass a safetensors file of halo weights, or None."
            raise FileNotFoundError(msg)
        client = self.client
        is_client = hasattr(client, "compute") and hasattr(client, "gather")
        if client is not None and client != "local" and not is_client:
            msg = f"client must be a dask.distributed Client, 'local' or None, got {type(client).__name__}."
            raise TypeError(msg)
        self._check_geometry()

    @classmethod
    def from_any(cls, value: SegmentOptions | Mapping[str, Any] | None = None, **changes: Any) -> SegmentOptions:
        """Accept the options, a mapping of their fields or ``None`` (the defaults), with ``changes`` on top."""
        if value is None:
            value = {}
        elif isinstance(value, cls):
            value = {f.name: getattr(value, f.name) for f in fields(cls)}
        elif not isinstance(value, Mapping):
            msg = f"options must be a halo.tl.SegmentOptions, a mapping of its fields or None, got {type(value)}."
            raise TypeError(msg)
        merged = {**value, **changes}
        unknown = set(merged) - {f.name for f in fields(cls)}
        if unknown:
            msg = f"Unknown segmentation options {sorted(unknown)}; valid: {[f.name for f in fields(cls)]}."
            raise TypeError(msg)
        return cls(**merged)

    @property
    def reach_um(self) -> float:
        """How far the method grows a cell beyond its nucleus."""
        return float(METHODS[self.method].reach_um(self))

    @property
    def tile_overlap_um(self) -> float:
        """``overlap_um``, or its default: twice the largest cell diameter, rounded up to a multiple of 10 um."""
        if self.overlap_um is not None:
            return float(self.overlap_um)
        return float(10 * np.ceil(2 * self._cell_diameter_um() / 10))

    def check_tile_pixels(self, um_per_px: float) -> None:
        """Check that a tile spans a sensible number of pixels at the image's pixel size."""
        if self.tile_um / um_per_px < MIN_TILE_PX:
            msg = (
                f"tile_um={self.tile_um} is only {self.tile_um / um_per_px:.3g} pixels at {um_per_px:.4g} um per "
                f"pixel; a tile must span at least {MIN_TILE_PX} pixels. Check `um_per_px=` (or the "
                "transcripts-to-image transformation, which halo reads as micrometres to pixels), or pass a larger "
                "`tile_um=`."
            )
            raise ValueError(msg)

    def _cell_diameter_um(self) -> float:
        return self.nucleus_options.max_diameter_um + 2 * max(self.reach_um, 0.0)

    def _check_geometry(self) -> None:
        cell_diameter, overlap_um = self._cell_diameter_um(), self.tile_overlap_um
        if not overlap_um >= 2 * cell_diameter:
            msg = (
                f"overlap_um={overlap_um} is less than twice the largest cell diameter ({cell_diameter:.1f} um = "
                f"largest nucleus + 2 x the reach, expansion_um or max_reach_um), so cells at tile seams could be cut. "
                f"Use overlap_um >= {2 * cell_diameter:.1f}."
            )
            raise ValueError(msg)
        if overlap_um >= self.tile_um:
            msg = f"overlap_um={overlap_um} must be smaller than tile_um={self.tile_um}; use larger tiles."
            raise ValueError(msg)


def option_docs() -> dict[str, str]:
    """Each option's description, as written in :class:`SegmentOptions`' docstring (the one place it is written)."""
    text = SegmentOptions.__doc__.split("----------\n", 1)[1]
    docs, name = {}, None
    for line in text.splitlines():
        if line.startswith("    ") and not line.startswith("        ") and line.strip():
            name = line.strip()
            docs[name] = ""
        elif name is not None and line.strip():
            docs[name] = (docs[name] + " " + line.strip()).strip()
    return docs


def parameters_section() -> str:
    """The ``Parameters`` entries of :class:`SegmentOptions`' docstring, for the docstrings built on its fields."""
    body = SegmentOptions.__doc__.split("----------\n", 1)[1]
    return "\n".join(line[4:] if line.startswith("    ") else line for line in body.rstrip().splitlines())


def check_number(name: str, value: Any, *, minimum: float | None = None, strict: bool = False, optional: bool = False):
    """Check for a finite real number (not a bool or a string), at least (with ``strict``, above) ``minimum``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Real):
        kind = "a number or None" if optional else "a number"
        msg = f"{name} must be {kind}, got {value!r} of type {type(value).__name__}."
        raise TypeError(msg)
    if not math.isfinite(value):
        msg = f"{name} must be a finite number, got {value!r}."
        raise ValueError(msg)
    if minimum is not None and (value <= minimum if strict else value < minimum):
        bound = "positive" if strict and minimum == 0 else f"{'>' if strict else '>='} {minimum}"
        msg = f"{name} must be {bound}, got {value!r}."
        raise ValueError(msg)


def _check_optional_str(name: str, value: Any, kind: str) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"{name} must be {kind} or None, got {value!r} of type {type(value).__name__}."
        raise TypeError(msg)


def _check_choice(name: str, value: Any, registry: Mapping[str, Any], register: str) -> None:
    if not isinstance(value, str) or value not in registry:
        msg = f"Unknown {name} {value!r}; choose one of {list(registry)} (or add one: halo.methods.{register})."
        raise ValueError(msg)


def _check_pattern(pattern: Any) -> None:
    if pattern is None:
        return
    if not isinstance(pattern, str):
        msg = f"control_pattern must be a regular expression (str) or None, got {pattern!r}."
        raise TypeError(msg)
    try:
        re.compile(pattern)
    except re.error as error:
        msg = f"control_pattern={pattern!r} is not a valid regular expression ({error})."
        raise ValueError(msg) from error


def _nucleus_options(value: Any) -> NucleusOptions:
    if value is not None and not isinstance(value, (NucleusOptions, Mapping)):
        msg = (
            "nucleus_options must be a halo.methods.NucleusOptions, a mapping of its fields or None, "
            f"got {type(value).__name__}."
        )
        raise TypeError(msg)
    return NucleusOptions.from_any(value)
