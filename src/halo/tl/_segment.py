"""``halo.tl.segment``: whole-cell segmentation of a SpatialData object, tile by tile."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import io as hio
from .._geometry._blocks import sampled_pixel
from .._memory import release_freed_memory
from .._pipeline._outputs import (
    cell_shapes,
    cell_table,
    element_names,
    nucleus_shapes,
    points_with_assignment,
)
from .._pipeline._run import run_tiles, scratch_folder, write_assignment
from .._pipeline._stitch import stitch
from .._pipeline._tile import ModelContext, TileContext
from .._tiling import bin_factor, tile_grid
from ..io._validate import (
    check_image_size,
    check_nucleus_options,
    check_outputs_are_halos,
    check_parameters,
    check_sdata,
    check_tile_pixels,
    check_transcripts_on_image,
)
from ..methods import METHODS, DapiStatistics, NucleusOptions, NucleusPolygons, dapi_statistics

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)


def segment(
    sdata: SpatialData,
    *,
    image_key: str | None = None,
    points_key: str | None = None,
    channel: str | int | None = None,
    method: str = "halo",
    nuclei_key: str | None = None,
    expansion_um: float = 5.0,
    max_reach_um: float = 15.0,
    nuclei_source: str = "image",
    weights: str | None = None,
    device: str | None = None,
    tile_um: float = 500.0,
    overlap_um: float | None = None,
    control_pattern: str | None = hio.DEFAULT_CONTROL_PATTERN,
    min_qv: float | None = 20.0,
    um_per_px: float | None = None,
    nucleus_options: NucleusOptions | Mapping[str, Any] | None = None,
    key_added: str = "halo",
    scratch_dir: str | os.PathLike | None = None,
    client: Any = None,
    progress: bool = True,
) -> None:
    """Segment whole cells from the nuclear image and the transcripts, and write them into ``sdata``.

    The slide is cut into tiles of ``tile_um`` that are read with ``overlap_um / 2`` of context on each side and
    processed in parallel with dask. Each cell is kept by the one tile whose core holds its nucleus, and each
    transcript is counted by the one tile whose core holds it, so no cell is cut or duplicated at a seam and no
    transcript is counted twice; the result does not depend on the tile size.

    Parameters
    ----------
    sdata
        SpatialData with a nuclear image and a points element of transcripts (in micrometres unless
        ``um_per_px`` is given).
    image_key
        Nuclear image; found automatically when one image has a DAPI-like or single channel.
    points_key
        Transcripts; found automatically when there is one points element.
    channel
        Nuclear channel name or index; by default the one named DAPI, or the only channel.
    method
        ``"halo"``: the pretrained network draws each cell from the nuclear image and the transcripts, grown from
        its nucleus up to ``max_reach_um``; ``"expansion"``: nuclei grown by up to ``expansion_um`` without
        entering a neighbour. Both work on the image binned to about 0.5 um per pixel (``halo.model.bin_factor``:
        0.425 um on Xenium), from the same nuclei.
    nuclei_key
        Use this existing nucleus segmentation (labels on the image's pixel grid, or polygon shapes) instead of
        detecting nuclei in the image.
    expansion_um
        ``method="expansion"``: largest distance a cell extends beyond its nucleus.
    max_reach_um
        ``method="halo"``: largest distance a cell extends beyond its nucleus.
    nuclei_source
        ``method="halo"`` without ``nuclei_key``: ``"image"`` seeds cells with nuclei thresholded from the nuclear
        image (as ``"expansion"`` does), ``"model"`` with the network's own nucleus channel. The network's nuclei
        score higher on simulated tissue but miss dim nuclei on the real Xenium crop, so ``"image"`` is the
        default (see the model card).
    weights
        ``method="halo"``: a safetensors file of fine-tuned weights (see :func:`halo.training.fine_tune`); the weights
        shipped with halo by default.
    device
        ``method="halo"``: torch device for the network; by default CUDA, then MPS, then CPU. Asking for a device
        that is not there is an error, never a silent fallback.
    tile_um
        Side of a tile core. Memory grows with the square of this, not with the slide.
    overlap_um
        Width shared by neighbouring tile windows; at least twice a cell diameter (the largest nucleus diameter
        plus twice ``expansion_um``), which is the default.
    control_pattern
        Regular expression of gene names to drop (full match, case-insensitive); ``None`` keeps all genes.
    min_qv
        Drop transcripts whose ``qv`` column is below this; ignored when there is no ``qv`` column; ``None`` keeps all.
    um_per_px
        Micrometres per image pixel. By default derived from the transcripts-to-image transformation, which
        assumes transcripts in micrometres.
    nucleus_options
        :class:`~halo.methods.NucleusOptions` (or a mapping of its fields) for nucleus detection in the image.
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
        Show a progress bar over the tiles.

    Returns
    -------
    Nothing; ``sdata`` gains (and, when backed by zarr, persists; earlier results of the same ``key_added`` are
    replaced only once the new ones are complete, and a run killed while writing is finished or undone by the next
    run or by :func:`halo.io.recover_interrupted_write`; elements halo did not write are never replaced; see
    ``docs/bad_input.md``):

    - ``sdata.shapes[f"{key_added}_boundaries"]``: one valid Polygon per cell, indexed by ``cell_id`` (1..n), in the
      nuclear image's pixel space with its transformations. Outlines run through the midpoints of the cell's pixel
      edges on the working grid, simplified within 0.35 pixel along the arcs neighbours share: cells neither
      overlap nor leave gaps between them, and the centre of every working-grid pixel of a cell (the pixel that
      decides a transcript's cell) lies inside its polygon.
    - ``sdata.shapes[f"{key_added}_nuclei"]``: the nucleus of each cell, same index, drawn alike (inside its cell).
    - ``sdata.tables[f"{key_added}_table"]``: cells x genes (in the order of the gene column's categories when they
      are known, as in memory; sorted by name when they are not, as read from zarr), sparse int32 counts in ``X``
      and ``layers["counts"]``;
      ``obs``: ``cell_id``, ``region``, ``area_um2``, ``perimeter_um``, ``elongation``, ``solidity``,
      ``nucleus_area_um2``, ``transcript_count`` and, with ``method="halo"``, ``confidence`` (mean predicted cell
      probability away from boundaries, 0-1); ``obsm["spatial"]``: centroids in image pixels;
      ``uns["halo"]``: parameters, element names and versions. Linked to the boundaries by ``TableModel``.
    - ``sdata.points[points_key][f"{key_added}_cell_id"]``: the cell of each transcript, 0 for none (also for
      dropped control and low-quality transcripts).
    """
    start = time.perf_counter()
    check_sdata(sdata)
    hio.check_key_added(key_added)
    if method not in METHODS:
        msg = f"Unknown method {method!r}; choose one of {list(METHODS)}."
        raise ValueError(msg)
    if nuclei_source not in ("image", "model"):
        msg = f"Unknown nuclei_source {nuclei_source!r}; choose 'image' or 'model'."
        raise ValueError(msg)
    check_parameters(
        image_key=image_key, points_key=points_key, nuclei_key=nuclei_key, channel=channel, expansion_um=expansion_um,
        max_reach_um=max_reach_um, tile_um=tile_um, overlap_um=overlap_um, control_pattern=control_pattern,
        min_qv=min_qv, um_per_px=um_per_px, nucleus_options=nucleus_options, progress=progress,
        scratch_dir=scratch_dir, client=client,
    )  # fmt: skip
    options = NucleusOptions.from_any(nucleus_options)
    check_nucleus_options(options)
    reach_um = max_reach_um if method == "halo" else expansion_um
    if overlap_um is None:
        overlap_um = _default_overlap_um(reach_um, options)
    _check_geometry(reach_um, tile_um, overlap_um, options)
    names = element_names(key_added)
    planned = {names["boundaries"]: "shapes", names["nuclei"]: "shapes", names["table"]: "tables"}
    hio.check_writable(sdata, planned)
    hio.recover_interrupted_write(sdata)  # a killed earlier run: finish or undo it before reading anything
    image_key, points_key, channel, control_pattern, um_per_px = hio.vendor_options(
        sdata, image_key=image_key, points_key=points_key, channel=channel, control_pattern=control_pattern,
        um_per_px=um_per_px,
    )  # fmt: skip

    image = hio.get_nuclear_image(sdata, image_key=image_key, channel=channel)
    check_image_size(image.key, image.data.shape)
    points_key = hio.find_points_key(sdata, points_key)
    check_outputs_are_halos(sdata, names, points_key)
    to_pixels = hio.affine_between(sdata, points_key, image.key)
    if um_per_px is None:
        um_per_px = hio.pixel_size_um(to_pixels)
    check_tile_pixels(tile_um, um_per_px)
    slide_shape = (int(image.data.shape[0]), int(image.data.shape[1]))
    logger.info("image %r channel %r, %s px at %.4g um/px", image.key, image.channel, slide_shape, um_per_px)
    keep = hio.TranscriptFilter.of(
        sdata.points[points_key], points_key, to_pixels, control_pattern=control_pattern, min_qv=min_qv
    )
    factor = bin_factor(um_per_px)  # one working grid for every method: the same nuclei, and cells, seed both
    context, window_source = _nucleus_source(
        sdata, nuclei_key, image, options, slide_shape, um_per_px, reach_um, factor
    )
    # tiles start on the working grid, so no result depends on the tiling
    core_px = _round_up(max(1, round(tile_um / um_per_px)), factor)
    margin_px = _round_up(int(np.ceil(overlap_um / 2 / um_per_px)), factor)
    tiles = tile_grid(slide_shape, core_px, margin_px)
    timings = {"prepare": time.perf_counter() - start}
    with scratch_folder(scratch_dir) as scratch:
        clock = time.perf_counter()
        embedding = None
        if method == "halo":
            from ..model import EmbeddingCounts

            extent_um = (slide_shape[0] * um_per_px, slide_shape[1] * um_per_px)
            embedding = EmbeddingCounts(len(keep.genes), extent_um)
        transcripts = hio.partition_transcripts(
            sdata.points[points_key], keep, scratch, slide_shape=slide_shape, core_px=core_px,
            on_part=None if embedding is None else lambda x, y, g: embedding.add(x * um_per_px, y * um_per_px, g),
            progress=progress,
        )  # fmt: skip
        check_transcripts_on_image(
            points_key, image.key, transcripts.n_kept, transcripts.dropped["outside"], slide_shape
        )
        timings["transcripts"] = time.perf_counter() - clock
        if method == "halo":
            stain = context.nuclei
            if not isinstance(stain, DapiStatistics):
                stain = dapi_statistics(image.overview, options)
            model = _model_context(stain, embedding, weights, device, nuclei_from_model=nuclei_source == "model")
            context = replace(context, model=model)
            if nuclei_key is None and context.model.nuclei_from_model:
                window_source = None  # the network finds the nuclei
        release_freed_memory()  # what reading the points element left behind
        clock = time.perf_counter()
        results = run_tiles(tiles, window_source, image.data, transcripts, context, scratch, progress, client)
        timings["tiles"] = time.perf_counter() - clock
        clock = time.perf_counter()
        stitched = stitch(results, len(transcripts.genes), pixel=factor)
        del results  # the stitched cells hold all that is still needed
        release_freed_memory()
        if stitched.n_cells == 0:
            msg = (
                f"No nuclei found in image {image.key!r} channel {image.channel!r}, so nothing was written. Check the "
                "channel, or lower `nucleus_options={'threshold': ...}` (on the image normalised to [0, 1])."
            )
            raise ValueError(msg)
        assignment, n_assigned = write_assignment(len(tiles), stitched, transcripts.n_total, scratch)
        release_freed_memory()
        timings["stitch"] = time.perf_counter() - clock
        clock = time.perf_counter()
        uns = _provenance(
            method=method, image_key=image.key, channel=image.channel, points_key=points_key, nuclei_key=nuclei_key,
            expansion_um=expansion_um, max_reach_um=max_reach_um, nuclei_source=nuclei_source,
            weights=str(weights or "halo_v1"), tile_um=tile_um, overlap_um=overlap_um, control_pattern=control_pattern,
            min_qv=min_qv, um_per_px=um_per_px, nucleus_options=options, names=names, n_tiles=len(tiles),
        )  # fmt: skip
        uns["timings"] = timings
        if not hio.is_backed(sdata):  # the column must outlive the scratch folder
            assignment = np.fromfile(assignment, np.int32)
        elements = {
            names["boundaries"]: cell_shapes(stitched, image.transformations),
            names["nuclei"]: nucleus_shapes(stitched, image.transformations),
            points_key: points_with_assignment(
                sdata.points[points_key],
                assignment,
                transcripts.part_offsets,
                names["assignment_column"],
                genes=(keep.feature_key, keep.categories),
            ),
            # built last, once the points are written: its copy of the counts is not in memory while dask writes
            names["table"]: lambda: cell_table(stitched, transcripts.genes, um_per_px, names["boundaries"], uns),
        }
        hio.write_elements(sdata, elements)
    logger.info(
        "segmented %d cells in %d tiles; %.1f%% of kept transcripts assigned; %.1f s (%s, write %.1f s)",
        stitched.n_cells, len(tiles), 100 * n_assigned / max(transcripts.n_kept, 1), time.perf_counter() - start,
        ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), time.perf_counter() - clock,
    )  # fmt: skip


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _model_context(stain, embedding, weights, device, *, nuclei_from_model: bool) -> ModelContext:
    """Load the network (shipped or ``weights``) and fix the slide-wide scaling of its inputs."""
    from .. import model

    net = model.pretrained() if weights is None else model.load_weights(weights)
    net = model.for_inference(net, model.pick_device(device))
    loadings, density = embedding.embedding()
    stats = model.SlideStatistics(stain.low, stain.high, density, loadings)
    return ModelContext(net=net, stats=stats, nuclei_from_model=nuclei_from_model)


def _default_overlap_um(expansion_um: float, options: NucleusOptions) -> float:
    """Twice the largest cell diameter, rounded up to a multiple of 10 um."""
    cell_diameter = options.max_diameter_um + 2 * max(expansion_um, 0.0)
    return float(10 * np.ceil(2 * cell_diameter / 10))


def _check_geometry(reach_um: float, tile_um: float, overlap_um: float, options: NucleusOptions) -> None:
    cell_diameter = options.max_diameter_um + 2 * reach_um
    if not overlap_um >= 2 * cell_diameter:
        msg = (
            f"overlap_um={overlap_um} is less than twice the largest cell diameter ({cell_diameter:.1f} um = largest "
            f"nucleus + 2 x the reach, expansion_um or max_reach_um), so cells at tile seams could be cut. "
            f"Use overlap_um >= {2 * cell_diameter:.1f}."
        )
        raise ValueError(msg)
    if overlap_um >= tile_um:
        msg = f"overlap_um={overlap_um} must be smaller than tile_um={tile_um}; use larger tiles."
        raise ValueError(msg)


def _nucleus_source(sdata, nuclei_key, image, options, slide_shape, um_per_px, expansion_um, factor):
    """The per-tile context and, per tile, the raster window the tile reads (image or nucleus labels)."""
    common = {
        "slide_shape": slide_shape, "um_per_px": um_per_px, "expansion_px": expansion_um / (um_per_px * factor),
        "factor": factor,
    }  # fmt: skip
    if nuclei_key is None:
        try:
            stats = dapi_statistics(image.overview, options)
        except ValueError as error:
            msg = f"Image {image.key!r} channel {image.channel!r}: {error} Pass the nuclear image as `image_key=`."
            raise ValueError(msg) from error
        return TileContext(nuclei=stats, nucleus_options=options, **common), image.data
    if nuclei_key in sdata.shapes:
        # a grid pixel takes the nucleus at the centre of the native pixel whose label ``block_sample`` takes
        shift = 0.5 - (sampled_pixel(factor) + 0.5) / factor
        to_grid = np.array([[1 / factor, 0, shift], [0, 1 / factor, shift], [0, 0, 1.0]])
        to_grid = to_grid @ hio.affine_between(sdata, nuclei_key, image.key)
        polygons = NucleusPolygons.from_shapes(sdata.shapes[nuclei_key], to_grid)
        return TileContext(nuclei=polygons, **common), None
    if nuclei_key in sdata.labels:
        window_source = hio.labels_on_image_grid(sdata, nuclei_key, image.key, slide_shape)
        return TileContext(nuclei="labels", **common), window_source
    msg = (
        f"nuclei_key={nuclei_key!r} is neither a labels nor a shapes element; "
        f"labels: {list(sdata.labels)}, shapes: {list(sdata.shapes)}."
    )
    raise KeyError(msg)


def _provenance(*, nucleus_options: NucleusOptions, names: dict[str, str], **params) -> dict[str, Any]:
    """Parameters and versions, in types that AnnData can write."""
    from dataclasses import asdict
    from importlib.metadata import version

    def writable(value):
        return "None" if value is None else value

    versions = {pkg: version(pkg) for pkg in ("spatialdata", "anndata", "numpy", "scikit-image", "dask")}
    from .. import __version__

    versions["halo"] = __version__
    return {
        "params": {k: writable(v) for k, v in params.items()},
        "nucleus_options": {k: writable(v) for k, v in asdict(nucleus_options).items()},
        "elements": names,
        "versions": versions,
    }
