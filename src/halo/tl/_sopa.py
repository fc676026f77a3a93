"""halo inside sopa's workflow: a callable for ``sopa.segmentation.custom_staining_based``, on sopa's patches.

sopa hands its segmentation callable one image patch and nothing else, but halo needs the transcripts and the
slide-wide statistics too. So :func:`sopa_segmenter` prepares halo for the slide once (the four steps of
:func:`halo.tl.segment` up to the tiles: nucleus statistics, the network, the transcripts sorted by tile) and adds a
small lazy image whose two channels hold each pixel's column and row. sopa cuts its patches from that image; the
callable reads the patch's position from it, reads the nuclear image and transcripts of that window itself, and
segments it exactly as a tile of :func:`halo.tl.segment` would (same nuclei, same network patches, same cells).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .._pipeline import SegmentOptions, plan_run, resolve_inputs
from .._tiling import Box, Tile
from ..methods import TileData

if TYPE_CHECKING:
    from spatialdata import SpatialData

COORDINATE_CHANNELS = ("x", "y")


class SopaSegmenter:
    """A sopa segmentation callable that runs halo on each patch; made by :func:`sopa_segmenter`.

    Attributes
    ----------
    image_key
        The coordinates image sopa must patch and hand over (added to ``sdata``).
    overlap_px
        The smallest patch overlap (native pixels) that keeps every cell whole in some patch: halo's tile overlap.
    sopa_kwargs
        Keyword arguments for ``sopa.segmentation.custom_staining_based``: the channels and image, and sopa's own
        preprocessing off (it would change the coordinates).
    """

    def __init__(self, sdata: SpatialData, options: SegmentOptions):
        start = time.perf_counter()
        inputs = resolve_inputs(sdata, options)
        self._scratch = tempfile.mkdtemp(prefix="halo-sopa-", dir=options.scratch_dir)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._scratch, True)
        plan = plan_run(sdata, inputs, options, self._scratch, start=start)
        self.grid, self.source, self.method = plan.slide.grid, plan.source, plan.method
        self.transcripts = plan.transcripts
        self.rasters = dict(plan.slide.rasters)
        self.overlap_px = int(np.ceil(plan.overlap_um / self.grid.um_per_px))
        self.image_key = f"{options.key_added}_coordinates"
        sdata.images[self.image_key] = _coordinate_image(inputs.image)
        self.sopa_kwargs = {
            "channels": list(COORDINATE_CHANNELS), "image_key": self.image_key, "gaussian_sigma": 0,
            "clip_limit": 0,
        }  # fmt: skip

    def __call__(self, patch: np.ndarray) -> np.ndarray:
        """int32 cell labels ``(Y, X)`` of a ``(2, Y, X)`` patch of the coordinates image (0: no cell)."""
        window = self._window_of(patch)
        f = self.grid.factor
        aligned = self.grid.native(window.binned(f))  # the working grid is fixed to the slide: whole blocks of it
        tile = Tile(index=-1, core=aligned, window=aligned)
        reads = self.source.reads(aligned, self.grid).merged(self.method.reads(aligned, self.grid))
        rasters = {
            name: (np.asarray(self.rasters[name][box.y0 : box.y1, box.x0 : box.x1]), box)
            for name, box in reads.rasters.items()
        }
        box = aligned if reads.transcripts is None else reads.transcripts.union(aligned)
        data = TileData(tile, self.grid, rasters, self.transcripts.in_box(box), box)
        cells = self.method.segment(data, self.source.nuclei(data)).labels
        native = np.repeat(np.repeat(cells, f, axis=0), f, axis=1)  # grid pixel i covers native [i f, (i + 1) f)
        rows = slice(window.y0 - aligned.y0, window.y1 - aligned.y0)
        cols = slice(window.x0 - aligned.x0, window.x1 - aligned.x0)
        return np.ascontiguousarray(native[rows, cols], dtype=np.int32)

    def _window_of(self, patch: np.ndarray) -> Box:
        """The slide box of a patch, read from its coordinate channels (checked along its middle row and column)."""
        if patch.ndim != 3 or patch.shape[0] != len(COORDINATE_CHANNELS):
            msg = (
                f"Expected a (2, Y, X) patch of the coordinates image, got shape {patch.shape}; pass "
                "`**segmenter.sopa_kwargs` to sopa.segmentation.custom_staining_based."
            )
            raise ValueError(msg)
        _, height, width = patch.shape
        x0 = int(patch[0, height // 2, 0])
        y0 = int(patch[1, 0, width // 2])
        columns, rows = patch[0, height // 2], patch[1, :, width // 2]
        if not (
            np.array_equal(columns, np.arange(x0, x0 + width)) and np.array_equal(rows, np.arange(y0, y0 + height))
        ):
            msg = (
                "The patch does not hold the coordinates image's values: sopa changed them (pass "
                "`**segmenter.sopa_kwargs`, which turns its smoothing and contrast off) or the patch is not "
                "rectangular (run without a region of interest)."
            )
            raise ValueError(msg)
        return Box(y0, y0 + height, x0, x0 + width)

    def close(self) -> None:
        """Remove the scratch files (also done when the segmenter is garbage-collected)."""
        self._cleanup()

    def __enter__(self) -> SopaSegmenter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def sopa_segmenter(sdata: SpatialData, *, key_added: str = "halo_sopa", **kwargs: Any) -> SopaSegmenter:
    """Prepare halo as a segmentation method for sopa's workflow.

    Run sopa with the callable (``docs/interop.md``)::

        segmenter = halo.tl.sopa_segmenter(sdata)
        patches = {"patch_overlap": segmenter.overlap_px, "image_key": segmenter.image_key}
        sopa.make_image_patches(sdata, patch_width=2000, **patches)
        sopa.segmentation.custom_staining_based(sdata, segmenter, **segmenter.sopa_kwargs)
        sopa.aggregate(sdata)

    Each patch gives the cells halo gives for that window; cells far enough from a patch's edges (half of
    ``segmenter.overlap_px``) are those of :func:`halo.tl.segment`. Use it as a context manager, or call
    ``close()``, to remove its scratch files when sopa is done.

    Parameters
    ----------
    sdata
        The SpatialData object sopa segments.
    key_added
        Prefix of the coordinates image added to ``sdata`` (``f"{key_added}_coordinates"``).
    **kwargs
        Options of :func:`halo.tl.segment` (:class:`~halo.tl.SegmentOptions`), e.g. ``method="expansion"``.

    Returns
    -------
    The :class:`SopaSegmenter` callable.
    """
    return SopaSegmenter(sdata, SegmentOptions(key_added=key_added, progress=False, **kwargs))


def _coordinate_image(image):
    """A lazy int32 ``(2, Y, X)`` image: each pixel's column and row, with the nuclear image's transformations."""
    import dask.array as da
    from spatialdata.models import Image2DModel

    height, width = (int(s) for s in image.data.shape)
    chunks = image.data.chunksize
    cols = da.broadcast_to(da.arange(width, dtype=np.int32, chunks=chunks[1])[None, :], (height, width), chunks=chunks)
    rows = da.broadcast_to(da.arange(height, dtype=np.int32, chunks=chunks[0])[:, None], (height, width), chunks=chunks)
    return Image2DModel.parse(
        da.stack([cols, rows]), dims=("c", "y", "x"), c_coords=list(COORDINATE_CHANNELS),
        transformations=image.transformations,
    )  # fmt: skip
