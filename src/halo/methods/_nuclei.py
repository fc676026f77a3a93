"""Nuclei for a tile: detected from DAPI, or read from an existing segmentation in the object.

Every source returns a :class:`NucleusTile` whose ``keys`` identify a nucleus the same way in every tile that
sees it, and whose ``anchors`` (one slide pixel per nucleus) decide the one tile that owns it. That is what lets
tiles be segmented independently and stitched without cutting or duplicating a cell.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import NucleusTile

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._tiling import Box

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NucleusOptions:
    """How nuclei are found in the DAPI image."""

    sigma_um: float = 0.4
    """Gaussian smoothing before thresholding."""
    min_area_um2: float = 6.0
    """Smaller objects are dropped as debris."""
    max_area_um2: float = 400.0
    """Larger objects are dropped as clumps or artefacts; also bounds the tile overlap that halo requires."""
    marker_sigma_um: float = 1.0
    """Smoothing of the image whose intensity peaks seed one nucleus each."""
    split_contrast: float = 0.06
    """Two touching nuclei are split when the dip between their peaks is at least this deep (normalised intensity,
    plus ``split_shape_weight`` times the distance to the edge)."""
    split_shape_weight: float = 0.4
    """Normalised intensity per micrometre of distance to the nucleus's edge, added to the image whose peaks are
    split: touching nuclei part at the waist of their joint outline as well as at a dip in intensity, and the
    chromatin texture of one large nucleus does not cut it in pieces. 0 splits on intensity alone."""
    clump_split_contrast: float = 0.01
    """A piece still larger than ``max_area_um2`` after that split cannot be one nucleus (a dense clump, where
    the depth of the joint outline hides the dips between nuclei): it is split again at intensity dips this deep."""
    threshold_factor: float = 0.5
    """The slide's Otsu threshold is multiplied by this: Otsu separates bright nuclei from everything else, and
    dim nuclei (stroma, out-of-focus) lie well below it."""
    threshold: float | None = None
    """Foreground threshold on the image normalised to [0, 1]; ``threshold_factor`` x Otsu when ``None``."""
    local_fraction: float = 0.5
    """A pixel is nucleus only where the smoothed image reaches this fraction of its brightest value within
    ``local_um``: each nucleus ends at its half maximum, however bright the haze of cytoplasm around it (which the
    slide-wide threshold lets through); dim nuclei keep their own half maximum. 0 turns it off."""
    local_um: float = 6.0
    """Side of the square that ``local_fraction`` takes the brightest value in (about a nucleus across)."""

    def __post_init__(self):
        for option in fields(self):
            value = getattr(self, option.name)
            if value is None and option.name == "threshold":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                msg = f"NucleusOptions.{option.name} must be a number, got {value!r}."
                raise TypeError(msg)
            if np.isinf(value):  # nan fails the range checks below, with the range in the message
                msg = f"NucleusOptions.{option.name} must be a finite number, got {value!r}."
                raise ValueError(msg)
        if not 0 <= self.local_fraction < 1:
            msg = f"NucleusOptions.local_fraction must lie in [0, 1), got {self.local_fraction!r}."
            raise ValueError(msg)
        for field in (
            "sigma_um", "min_area_um2", "max_area_um2", "marker_sigma_um", "split_contrast", "split_shape_weight",
            "clump_split_contrast", "local_um",
        ):  # fmt: skip
            if not getattr(self, field) >= 0:
                msg = f"NucleusOptions.{field} must be >= 0, got {getattr(self, field)!r}."
                raise ValueError(msg)
        if self.max_area_um2 <= self.min_area_um2:
            msg = "NucleusOptions.max_area_um2 must be larger than min_area_um2."
            raise ValueError(msg)
        if not 0 < self.threshold_factor <= 2:
            msg = f"NucleusOptions.threshold_factor must lie in (0, 2], got {self.threshold_factor!r}."
            raise ValueError(msg)
        if self.threshold is not None and not 0 < self.threshold < 1:
            msg = f"NucleusOptions.threshold is on the normalised image and must lie in (0, 1), got {self.threshold}."
            raise ValueError(msg)

    @property
    def max_diameter_um(self) -> float:
        """Diameter of a disc of the largest allowed area."""
        return float(2 * np.sqrt(self.max_area_um2 / np.pi))

    @classmethod
    def from_any(cls, value: NucleusOptions | Mapping[str, Any] | None) -> NucleusOptions:
        """Accept the dataclass, a mapping of its fields, or ``None`` for the defaults."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            msg = f"Unknown nucleus options {sorted(unknown)}; valid: {[f.name for f in fields(cls)]}."
            raise ValueError(msg)
        return cls(**value)


@dataclass(frozen=True)
class DapiStatistics:
    """Slide-wide intensity statistics, so that every tile is normalised and thresholded alike."""

    low: float
    high: float
    threshold: float
    saturated: float = 0.0
    """Share of the sampled pixels at the largest value of the image's integer type (0 for floats)."""


def stain_range(values: np.ndarray) -> tuple[np.float64, np.float64]:
    """The nuclear stain's 1st and 99.9th percentiles, by which nuclei are thresholded and the network's input scaled.

    At least one unit apart (a flat image); ``values`` must be finite.
    """
    if values.size == 0:
        msg = "The nuclear image has no finite pixel."
        raise ValueError(msg)
    low, high = np.percentile(values, [1.0, 99.9])
    if high <= low:
        high = low + 1.0
    return low, high


def dapi_statistics(overview, options: NucleusOptions, *, max_pixels: int = 16_000_000) -> DapiStatistics:
    """Percentile normalisation and Otsu threshold from a downsampled view of the whole nuclear channel."""
    from skimage.filters import threshold_otsu

    step = max(1, int(np.ceil(np.sqrt(overview.shape[0] * overview.shape[1] / max_pixels))))
    raw = np.asarray(overview[::step, ::step])
    saturated = float((raw == np.iinfo(raw.dtype).max).mean()) if np.issubdtype(raw.dtype, np.integer) else 0.0
    sample = raw.astype(np.float32)
    del raw
    finite = sample[np.isfinite(sample)]
    low, high = stain_range(finite)
    threshold = options.threshold
    if threshold is None:
        normalised = np.clip((finite - low) / (high - low), 0, 1)
        otsu = float(threshold_otsu(normalised)) if np.ptp(normalised) > 0 else 0.5
        threshold = min(otsu * options.threshold_factor, 0.99)
    logger.info("DAPI normalisation: low %.4g, high %.4g, threshold %.3f", low, high, threshold)
    return DapiStatistics(low=float(low), high=float(high), threshold=float(threshold), saturated=saturated)


def detect_nuclei(
    window: np.ndarray, box: Box, slide_width: int, stats: DapiStatistics, options: NucleusOptions, um_per_px: float
) -> NucleusTile:
    """Nuclei of a window of the nuclear image, on its grid.

    Normalise, smooth, threshold (slide-wide and at half each nucleus's local maximum), split touching nuclei at
    dips between peaks of intensity plus depth inside the shape, filter by size and drop flat haze.
    """
    from scipy import ndimage

    image = np.nan_to_num((np.asarray(window, dtype=np.float32) - stats.low) / (stats.high - stats.low))
    smooth = ndimage.gaussian_filter(image, options.sigma_um / um_per_px)
    foreground = _fill_holes(smooth > stats.threshold, max_size=int(options.max_area_um2 / um_per_px**2))
    size = int(round(options.local_um / um_per_px)) | 1  # odd: centred on the pixel
    if options.local_fraction > 0:
        foreground &= smooth >= options.local_fraction * ndimage.maximum_filter(smooth, size=size)
        # specks of texture inside a nucleus are filled again; not the ring cut between a nucleus and the haze
        # around it (filled, it would join them again)
        foreground = _fill_holes(foreground, max_size=int(options.min_area_um2 / um_per_px**2))
    intensity = ndimage.gaussian_filter(image, options.marker_sigma_um / um_per_px)
    if options.split_shape_weight > 0:
        depth = ndimage.distance_transform_edt(foreground).astype(np.float32) * um_per_px
        peaks = intensity + options.split_shape_weight * ndimage.gaussian_filter(depth, options.sigma_um / um_per_px)
        labels = _split_blobs(foreground, peaks, options.split_contrast)
        labels = _split_clumps(labels, intensity, options.clump_split_contrast, options.max_area_um2 / um_per_px**2)
    else:
        labels = _split_blobs(foreground, intensity, options.split_contrast)
    labels = _size_filtered(labels, options, um_per_px)
    if options.local_fraction > 0:
        labels = _risen_above_surroundings(labels, smooth, size, options.local_fraction)
    return keyed_by_first_pixel(labels, box, slide_width)


def _risen_above_surroundings(labels: np.ndarray, smooth: np.ndarray, size: int, fraction: float) -> np.ndarray:
    """Labels whose brightest pixel reaches ``1 / fraction`` times the dimmest one within ``size`` of them.

    Haze farther than half of ``size`` from any nucleus passes the half-maximum test (it is its own maximum) but is
    flat: a nucleus rises from its surroundings as much as its half-maximum edge says it does.
    """
    from scipy import ndimage

    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return labels
    inside = np.flatnonzero(labels)  # per-label extremes over these alone: ~30x faster than ndimage.maximum
    label = labels.ravel()[inside]
    brightest = np.full(n + 1, -np.inf)
    np.maximum.at(brightest, label, smooth.ravel()[inside])
    dimmest_around = np.full(n + 1, np.inf)
    np.minimum.at(dimmest_around, label, ndimage.minimum_filter(smooth, size=size).ravel()[inside])
    keep = fraction * brightest >= dimmest_around
    keep[0] = False
    return np.where(keep[labels], labels, 0)


def _fill_holes(mask: np.ndarray, *, max_size: int) -> np.ndarray:
    """Fill the holes of ``mask``: 4-connected background regions enclosed in the window, up to ``max_size`` pixels.

    Both limits keep the result independent of the window: a larger region, or one that reaches the window's edge,
    may be enclosed or open depending on how far the window reaches, so it is never filled.
    """
    from scipy import ndimage

    holes, n = ndimage.label(~mask)
    if n == 0:
        return mask
    fill = np.bincount(holes.ravel(), minlength=n + 1) <= max_size
    fill[0] = False
    fill[np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]])] = False
    return mask | fill[holes]


def nuclei_from_probability(
    probability: np.ndarray, box: Box, slide_width: int, options: NucleusOptions, um_per_px: float
) -> NucleusTile:
    """Nuclei from the network's nucleus probability (uint8): threshold, split at necks of the shape, filter by size.

    Touching nuclei are split where the distance to the background dips by more than ``MODEL_SPLIT_DEPTH_UM``
    between two centres, as a narrow waist between two round nuclei does.
    """
    from scipy import ndimage

    foreground = _fill_holes(probability >= 128, max_size=int(options.min_area_um2 / um_per_px**2))
    distance = ndimage.distance_transform_edt(foreground).astype(np.float32) * um_per_px
    peaks = ndimage.gaussian_filter(distance, options.sigma_um / um_per_px)
    labels = _split_blobs(foreground, peaks, MODEL_SPLIT_DEPTH_UM)
    return keyed_by_first_pixel(_size_filtered(labels, options, um_per_px), box, slide_width)


def _size_filtered(labels: np.ndarray, options: NucleusOptions, um_per_px: float) -> np.ndarray:
    """Labels outside ``[min_area_um2, max_area_um2]`` set to background."""
    return np.where(_within_size_limits(labels, options, um_per_px)[labels], labels, 0)


def _within_size_limits(labels: np.ndarray, options: NucleusOptions, um_per_px: float) -> np.ndarray:
    """Whether each label ``0..max`` is a nucleus within ``[min_area_um2, max_area_um2]`` (never the background)."""
    area = np.bincount(labels.ravel()) * um_per_px**2
    keep = (area >= options.min_area_um2) & (area <= options.max_area_um2)
    keep[0] = False
    return keep


MODEL_SPLIT_DEPTH_UM = 0.6
"""Depth of the waist (in distance to the background) at which :func:`nuclei_from_probability` splits a blob."""


def _split_blobs(foreground: np.ndarray, peaks: np.ndarray, contrast: float) -> np.ndarray:
    """Label foreground blobs, splitting each at the dips between its intensity peaks (h-maxima + watershed).

    Each blob is processed on its own crop, with everything outside it masked: a blob's nuclei then depend only on
    its own pixels, not on the window around it, so the result does not depend on the tiling. Blobs are 8-connected
    (the h-maxima's connectivity), so that with everything outside the blobs set to zero one pass over the window
    finds the blobs that have two separate plateaus of local maxima: only those can hold two h-maxima and are
    worth the per-blob search. A blob of fewer than 9 pixels stays whole.
    """
    from scipy import ndimage
    from skimage.measure import label as connected
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    blobs, n_blobs = ndimage.label(foreground, structure=np.ones((3, 3), bool))
    labels = blobs.astype(np.int32)
    if n_blobs == 0:
        return labels
    local = np.where(foreground, peaks, 0)
    plateaus, _ = ndimage.label((ndimage.maximum_filter(local, size=3) == local) & foreground, np.ones((3, 3), bool))
    pairs = np.unique(np.stack([blobs[plateaus > 0], plateaus[plateaus > 0]]), axis=1)
    n_plateaus = np.bincount(pairs[0], minlength=n_blobs + 1)
    next_label = n_blobs + 1
    for blob, crop in enumerate(ndimage.find_objects(blobs), start=1):
        if n_plateaus[blob] < 2:  # each h-maximum lies on its own plateau of local maxima
            continue
        mask = blobs[crop] == blob
        if mask.sum() < 9:
            continue
        masked = np.where(mask, peaks[crop], 0)
        markers, n_markers = connected(h_maxima(masked, contrast) & mask, connectivity=2, return_num=True)
        if n_markers < 2:
            continue
        split = watershed(-masked, markers, mask=mask)[mask]
        # a piece joined to the blob only diagonally is reached by no marker (the flooding is 4-connected): it
        # belongs to no nucleus, rather than to whichever label came before (which depends on the window)
        labels[crop][mask] = np.where(split > 0, split + next_label - 1, 0)
        next_label += n_markers
    return labels


def _split_clumps(labels: np.ndarray, intensity: np.ndarray, contrast: float, max_pixels: float) -> np.ndarray:
    """Labels larger than ``max_pixels`` split again at the dips of ``intensity`` alone; the others as they are."""
    area = np.bincount(labels.ravel())
    clump = area > max_pixels
    clump[0] = False
    if not clump.any():
        return labels
    inside = clump[labels]
    pieces = _split_blobs(inside, intensity, contrast)
    return np.where(inside, np.where(pieces > 0, pieces + labels.max(), 0), labels).astype(np.int32, copy=False)


def keyed_by_first_pixel(labels: np.ndarray, box: Box, slide_width: int) -> NucleusTile:
    """Relabel ``1..n`` and key each label by its first pixel in slide raster order, which is also its anchor.

    ``box`` is the window of ``labels`` on the slide's grid, ``slide_width`` that grid's width: a nucleus seen by
    several tiles gets the same key in each.
    """
    from .._geometry import relabel_sequential_ids

    labels, _ = relabel_sequential_ids(labels)
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return NucleusTile(labels, np.zeros(0, np.int64), np.zeros((0, 2), np.int64))
    # a label's first pixel in the window's raster order is also its first in the slide's
    inside = np.flatnonzero(labels)
    _, first = np.unique(labels.ravel()[inside], return_index=True)
    rows, cols = np.divmod(inside[first], labels.shape[1])
    anchors = np.column_stack([rows + box.y0, cols + box.x0]).astype(np.int64)
    keys = anchors[:, 0] * slide_width + anchors[:, 1]
    return NucleusTile(labels, keys, anchors)


def nuclei_from_labels(window: np.ndarray, box: Box, slide_width: int) -> NucleusTile:
    """Nuclei from a window of an existing label image; keys are its label values."""
    from .._geometry import relabel_sequential_ids

    labels = np.asarray(window)
    if not np.issubdtype(labels.dtype, np.integer):
        msg = f"nucleus labels must have an integer dtype, got {labels.dtype}."
        raise ValueError(msg)
    tile = keyed_by_first_pixel(labels, box, slide_width)
    _, old = relabel_sequential_ids(labels)
    tile.keys = old.astype(np.int64)
    return tile


@dataclass
class NucleusPolygons:
    """An existing nucleus segmentation given as polygons in the image's pixel space."""

    geometries: np.ndarray
    keys: np.ndarray
    anchors: np.ndarray

    @classmethod
    def from_shapes(cls, gdf, to_pixels: np.ndarray) -> NucleusPolygons:
        """Map the shapes into pixels; key each by its position in the element, anchor it at its centroid."""
        import shapely

        if not gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all():
            msg = "nucleus shapes must be Polygons or MultiPolygons (circles are not supported); rasterise them first."
            raise ValueError(msg)
        from ..io import apply_affine

        geometries = shapely.transform(np.asarray(gdf.geometry, dtype=object), lambda xy: apply_affine(to_pixels, xy))
        centroids = shapely.get_coordinates(shapely.centroid(geometries))
        anchors = np.column_stack([np.floor(centroids[:, 1]), np.floor(centroids[:, 0])]).astype(np.int64)
        return cls(geometries=geometries, keys=np.arange(len(gdf), dtype=np.int64), anchors=anchors)

    def tile(self, box: Box) -> NucleusTile:
        """Rasterise the nuclei that touch ``box`` (pixel-centre rule), later ones drawn over earlier ones."""
        import shapely
        from affine import Affine
        from rasterio.features import rasterize

        window = shapely.box(box.x0, box.y0, box.x1, box.y1)
        hits = np.flatnonzero(shapely.intersects(self.geometries, window))
        shape = (box.y1 - box.y0, box.x1 - box.x0)
        if hits.size == 0:
            return NucleusTile(np.zeros(shape, np.int32), np.zeros(0, np.int64), np.zeros((0, 2), np.int64))
        from .._geometry import RASTERIO_LOCK

        with RASTERIO_LOCK:
            labels = rasterize(
                zip(self.geometries[hits], range(1, hits.size + 1), strict=True),
                out_shape=shape,
                transform=Affine.translation(box.x0, box.y0),
                fill=0,
                dtype="int32",
            )
        present = np.zeros(hits.size + 1, dtype=bool)
        present[np.unique(labels)] = True
        kept = np.flatnonzero(present[1:])
        lut = np.zeros(hits.size + 1, dtype=np.int32)
        lut[kept + 1] = np.arange(1, kept.size + 1, dtype=np.int32)
        return NucleusTile(lut[labels], self.keys[hits[kept]], self.anchors[hits[kept]])
