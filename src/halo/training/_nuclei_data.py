"""Hand-annotated nuclei for the nucleus network: the 2018 Data Science Bowl images on halo's working grid.

The images (``nuclei_dsb2018_fluo_train.npz`` in the shared data folder, never in the repository) carry no pixel
size. Each is given the one that makes its median annotated nucleus :data:`NUCLEUS_DIAMETER_UM` across, then
resampled to halo's working grid (:data:`~halo._tiling.GRID_UM_PER_PX`), where halo detects nuclei on real slides.

The split into training, validation and held-out images is a fixed function of each image's id
(:func:`split_of`): it never changes, whatever images are added or removed. Held-out images are never trained or
tuned on; the validation images (carved from the training part) choose the decoding thresholds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._tiling import GRID_UM_PER_PX
from ..model import normalised_stain
from ._train import HELD_OUT_SEED

DSB_FILE = "nuclei_dsb2018_fluo_train.npz"
"""File name of the hand-annotated fluorescence nuclei in the shared data folder."""
NUCLEUS_DIAMETER_UM = 7.0
"""Equivalent-circle diameter given to each image's median annotated nucleus (a typical tissue nucleus)."""
HELD_OUT_PERCENT = 15
"""Images whose id hashes to a bucket below this (of 100) are held out: never trained or tuned on."""
VALIDATION_PERCENT = 10
"""The next this many buckets are validation images: part of the training side, used only to choose thresholds."""
SPLITS = ("train", "validation", "held_out")


@dataclass
class NucleusImage:
    """One annotated image at its own resolution."""

    image_id: str
    image: np.ndarray
    """2-D stain image (native pixels, any numeric dtype)."""
    labels: np.ndarray
    """int32 instance labels of the same shape (0: background)."""
    um_per_px: float
    """Pixel size given to the image (:func:`nucleus_um_per_px`)."""
    source: str = "dsb2018"
    """``"dsb2018"`` (split by :func:`split_of`) or ``"simulated"`` (split by seed: :func:`simulated_fields`)."""


def split_of(image_id: str) -> str:
    """The split an image belongs to: ``"train"``, ``"validation"`` or ``"held_out"``, fixed by its id alone.

    The bucket is the first 8 hex digits of the SHA-256 of the id, modulo 100: buckets below
    :data:`HELD_OUT_PERCENT` are held out, the next :data:`VALIDATION_PERCENT` are validation, the rest train.
    """
    bucket = int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16) % 100
    if bucket < HELD_OUT_PERCENT:
        return "held_out"
    if bucket < HELD_OUT_PERCENT + VALIDATION_PERCENT:
        return "validation"
    return "train"


def nucleus_um_per_px(labels: np.ndarray, *, diameter_um: float = NUCLEUS_DIAMETER_UM) -> float:
    """Pixel size at which the median labelled nucleus is ``diameter_um`` across (equivalent-circle diameter).

    Raises
    ------
    ValueError
        When ``labels`` holds no nucleus.
    """
    areas = np.bincount(np.asarray(labels).ravel())[1:]
    areas = areas[areas > 0]
    if areas.size == 0:
        msg = "The label image holds no nucleus to take a scale from."
        raise ValueError(msg)
    return float(diameter_um / np.median(2 * np.sqrt(areas / np.pi)))


def load_dsb(path: str | Path, *, splits: tuple[str, ...] = SPLITS) -> list[NucleusImage]:
    """The annotated images of the given splits, sorted by id, each with the pixel size of its nuclei.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist (the data lives outside the repository).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"Annotated nuclei {path} not found; they live in the shared data folder, not in the repository."
        raise FileNotFoundError(msg)
    unknown = set(splits) - set(SPLITS)
    if unknown:
        msg = f"Unknown splits {sorted(unknown)}; valid: {SPLITS}."
        raise ValueError(msg)
    images = []
    with np.load(path) as data:
        ids = sorted(key[: -len("_image")] for key in data.files if key.endswith("_image"))
        for image_id in ids:
            if split_of(image_id) not in splits:
                continue
            labels = data[f"{image_id}_labels"].astype(np.int32)
            image = data[f"{image_id}_image"]
            images.append(NucleusImage(image_id, image, labels, nucleus_um_per_px(labels)))
    return images


def resampled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """Shape of an image of ``shape`` resampled by ``scale`` (output pixels per input pixel), at least 1 x 1."""
    return (max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale)))


def resample_image(image: np.ndarray, scale: float, shape: tuple[int, int] | None = None) -> np.ndarray:
    """float32 image resampled by ``scale``: area-averaged when shrinking (as binning does), linear when enlarging."""
    import cv2

    height, width = shape or resampled_shape(image.shape, scale)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.resize(np.asarray(image, np.float32), (width, height), interpolation=interpolation)
    return out.reshape(height, width)


def resample_labels(labels: np.ndarray, scale: float, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Labels resampled by ``scale`` by their nearest pixel: each output pixel takes the input pixel under its centre.

    Ids are kept (none is renumbered); a nucleus smaller than an output pixel may vanish.
    """
    height, width = shape or resampled_shape(labels.shape, scale)
    rows = np.minimum(((np.arange(height) + 0.5) / scale).astype(np.int64), labels.shape[0] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) / scale).astype(np.int64), labels.shape[1] - 1)
    return np.ascontiguousarray(labels[np.ix_(rows, cols)])


def percentiles(image: np.ndarray) -> tuple[float, float]:
    """The 1st and 99.9th percentiles that halo normalises a slide by (:func:`~halo.methods.stain_range`)."""
    from ..methods import stain_range

    low, high = stain_range(np.asarray(image, np.float32).ravel())
    return float(low), float(high)


def nucleus_targets(labels: np.ndarray) -> np.ndarray:
    """float32 ``(2, h, w)`` targets: foreground, and distance to the nucleus's edge normalised to 1 at its centre.

    Touching nuclei are parted by their contact (a pixel with a 4-neighbour of another nucleus counts as edge), so
    the distance dips to 0 between them and its peaks seed one nucleus each.
    """
    from scipy import ndimage

    from ._data import cell_borders

    inner = (labels > 0) & ~cell_borders(labels)
    distance = ndimage.distance_transform_edt(inner).astype(np.float32) + (labels > 0)
    n = int(labels.max()) if labels.size else 0
    peak = np.zeros(n + 1, np.float32)
    np.maximum.at(peak, labels.ravel(), distance.ravel())
    peak[0] = 1.0
    return np.stack([(labels > 0).astype(np.float32), distance / np.maximum(peak[labels], 1.0)])


@dataclass(frozen=True)
class Augmentation:
    """How strongly each change of the stain is drawn; probabilities are per crop."""

    scale_jitter: float = 0.2
    """The pixel size is multiplied by a factor in ``[1 - j, 1 + j]`` (log-uniform)."""
    p_blur: float = 0.3
    blur_px: tuple[float, float] = (0.3, 1.5)
    p_haze: float = 0.4
    haze_fraction: tuple[float, float] = (0.05, 0.5)
    """Smooth background added, as a fraction of the image's range."""
    p_gamma: float = 0.5
    gamma: tuple[float, float] = (0.6, 1.6)
    p_shot: float = 0.4
    photons: tuple[float, float] = (2.0, 200.0)
    """Photons at the image's 99.9th percentile, log-uniform: few photons, strong shot noise."""
    p_read: float = 0.4
    read_noise: tuple[float, float] = (0.0, 0.06)
    """Gaussian read noise, as a fraction of the image's range."""
    p_saturate: float = 0.2
    saturate: tuple[float, float] = (0.4, 0.95)
    """Clip at this quantile of the nuclei's intensities: saturated nuclei, flat inside."""
    p_quantise: float = 0.4
    levels: tuple[int, int] = (16, 256)
    """Grey levels over the image's range (8-bit or coarser)."""
    p_jpeg: float = 0.25
    jpeg_quality: tuple[int, int] = (30, 95)
    gain: tuple[float, float] = (0.5, 1.5)
    """After normalisation: the slide-wide percentiles come from elsewhere on the slide, so a crop's own range
    is rarely [0, 1]."""
    offset: tuple[float, float] = (-0.05, 0.1)


def augmented_crop(
    item: NucleusImage, rng: np.random.Generator, size: int, augmentation: Augmentation
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training crop of ``item`` on the working grid: normalised input, targets and loss mask.

    Returns float32 ``(1, size, size)`` input in [0, 1], ``(2, size, size)`` targets (:func:`nucleus_targets`) and a
    ``(size, size)`` mask (0 where the crop reaches past the image and was padded).
    """
    jitter = augmentation.scale_jitter
    scale = item.um_per_px / GRID_UM_PER_PX * float(np.exp(rng.uniform(np.log(1 - jitter), np.log(1 + jitter))))
    image, labels = _native_crop(item, rng, size, scale)
    shape = resampled_shape(image.shape, scale)
    grid_image = resample_image(image, scale, shape)[:size, :size]
    grid_labels = resample_labels(labels, scale, shape)[:size, :size]
    return _finished(grid_image, grid_labels, rng, size, augmentation)


def _native_crop(item: NucleusImage, rng: np.random.Generator, size: int, scale: float):
    """A random window of the native image that resamples to at least ``size`` pixels (or the whole image)."""
    need = int(np.ceil(size / scale)) + 1
    height, width = item.image.shape
    y0 = int(rng.integers(0, max(height - need, 0) + 1))
    x0 = int(rng.integers(0, max(width - need, 0) + 1))
    return item.image[y0 : y0 + need, x0 : x0 + need], item.labels[y0 : y0 + need, x0 : x0 + need]


def _finished(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, size: int, augmentation):
    """Stain changes, normalisation, padding to ``size`` and a random dihedral transform."""
    image = _stain_augmented(image.astype(np.float32), labels, rng, augmentation)
    low, high = percentiles(image)
    x = normalised_stain(image, low, high) * rng.uniform(*augmentation.gain) + rng.uniform(*augmentation.offset)
    x = np.clip(x, 0, 1)
    pad = ((0, size - image.shape[0]), (0, size - image.shape[1]))
    x = np.pad(x, pad)
    labels = np.pad(labels, pad)
    mask = np.pad(np.ones(image.shape, np.float32), pad)
    targets = nucleus_targets(labels)
    k = int(rng.integers(4))
    stack = np.rot90(np.concatenate([x[None], targets, mask[None]]), k, axes=(1, 2))
    if rng.random() < 0.5:
        stack = stack[:, :, ::-1]
    stack = np.ascontiguousarray(stack, dtype=np.float32)
    return stack[:1], stack[1:3], stack[3]


def _stain_augmented(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, a: Augmentation) -> np.ndarray:
    """The stain as other microscopes, stains and slides would show it (intensity units of ``image``)."""
    import cv2

    low, high = percentiles(image)
    span = high - low
    if rng.random() < a.p_blur:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*a.blur_px))
    if rng.random() < a.p_saturate and (labels > 0).any():
        image = np.minimum(image, np.quantile(image[labels > 0], rng.uniform(*a.saturate)))
    if rng.random() < a.p_gamma:
        image = low + span * np.clip((image - low) / span, 0, None) ** rng.uniform(*a.gamma)
    if rng.random() < a.p_haze:
        # out-of-focus light and autofluorescence: smooth, a few nuclei across
        noise = cv2.GaussianBlur(rng.standard_normal(image.shape).astype(np.float32), (0, 0), rng.uniform(4, 20))
        noise = (noise - noise.min()) / max(float(np.ptp(noise)), 1e-6)
        image = image + span * rng.uniform(*a.haze_fraction) * noise
    if rng.random() < a.p_shot:
        photons = float(np.exp(rng.uniform(*np.log(a.photons)))) / span
        image = low + rng.poisson(np.clip(image - low, 0, None) * photons).astype(np.float32) / photons
    if rng.random() < a.p_read:
        image = image + rng.normal(0, span * rng.uniform(*a.read_noise), image.shape).astype(np.float32)
    if rng.random() < a.p_quantise:
        image = _quantised(image, rng, a)
    return image.astype(np.float32, copy=False)


def _quantised(image: np.ndarray, rng: np.random.Generator, a: Augmentation) -> np.ndarray:
    """Coarse grey levels (an 8-bit or poorer camera), and JPEG compression sometimes (MERSCOPE, CosMx)."""
    import cv2

    low, high = float(image.min()), float(image.max())
    levels = int(rng.integers(a.levels[0], a.levels[1] + 1))
    steps = np.round((image - low) / max(high - low, 1e-6) * (levels - 1))
    if rng.random() < a.p_jpeg:
        grey = np.round(steps * 255 / (levels - 1)).astype(np.uint8)
        quality = int(rng.integers(a.jpeg_quality[0], a.jpeg_quality[1] + 1))
        ok, encoded = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            steps = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float32) * (levels - 1) / 255
    return (low + steps * (high - low) / (levels - 1)).astype(np.float32)


def simulated_fields(seed: int, n: int, *, size_um: float = 80.0, seeds: list[int] | None = None) -> list[NucleusImage]:
    """``n`` simulated DAPI fields with their true nuclei, binned to the working grid as halo bins each platform.

    Which fields: :func:`simulated_specs`. The fields' ``um_per_px`` is their grid's (0.425-0.54 um), so
    :func:`augmented_crop` hardly rescales them.
    """
    from .._geometry import block_mean, block_sample
    from .._tiling import bin_factor
    from ..datasets import simulate_tissue

    fields = []
    for archetype, platform, field_seed in simulated_specs(seed, n, seeds=seeds):
        tissue = simulate_tissue(archetype, size_um=size_um, seed=field_seed, platform=platform)
        factor = bin_factor(tissue.um_per_px)
        image = block_mean(tissue.dapi, factor)
        labels = block_sample(tissue.nuclei, factor).astype(np.int32)
        name = f"simulated-{archetype}-{platform}-{field_seed}"
        fields.append(NucleusImage(name, image, labels, factor * tissue.um_per_px, source="simulated"))
    return fields


def simulated_specs(seed: int, n: int, *, seeds: list[int] | None = None) -> list[tuple[str, str, int]]:
    """Archetype, platform and seed of the ``n`` fields :func:`simulated_fields` simulates, without simulating them.

    They are drawn from ``seed``; or, with ``seeds``, field ``i`` is archetype ``i`` (cycling through them),
    platform ``i`` (cycling) at seed ``seeds[i]``. Seeds must lie below :data:`~halo.training.HELD_OUT_SEED` (the
    held-out benchmarks' seeds are never used).
    """
    from ..datasets import ARCHETYPES

    platforms = ("xenium", "merscope", "cosmx")
    rng = np.random.default_rng([seed, 7])
    specs = []
    for i in range(n):
        if seeds is None:
            platform, archetype = str(rng.choice(platforms)), str(rng.choice(ARCHETYPES))
            field_seed = int(rng.integers(0, HELD_OUT_SEED))
        else:
            platform, archetype, field_seed = platforms[i % 3], ARCHETYPES[i % len(ARCHETYPES)], int(seeds[i])
        if field_seed >= HELD_OUT_SEED:
            msg = f"Simulated seed {field_seed} is reserved for held-out benchmarks (>= {HELD_OUT_SEED})."
            raise ValueError(msg)
        specs.append((archetype, platform, field_seed))
    return specs


@dataclass
class GridExample:
    """An annotated image on the working grid, as halo would see it on a slide."""

    image_id: str
    raw: np.ndarray
    """float32 stain in its own intensity units (what :func:`~halo.methods.detect_nuclei` reads)."""
    input: np.ndarray
    """float32 network input: the native image normalised by its own 1st / 99.9th percentiles, clipped to [0, 1],
    then resampled (:func:`~halo.model.normalised_stain`, as :func:`~halo.model.dapi_channel`
    normalises, then bins)."""
    labels: np.ndarray
    """int32 annotated nuclei on the grid."""
    source: str = "dsb2018"


def grid_example(item: NucleusImage, *, grid_um: float = GRID_UM_PER_PX) -> GridExample:
    """``item`` on the working grid, for validation and held-out scoring."""
    low, high = percentiles(item.image)
    scale = item.um_per_px / grid_um
    shape = resampled_shape(item.image.shape, scale)
    return GridExample(
        item.image_id,
        resample_image(item.image, scale, shape),
        resample_image(normalised_stain(item.image, low, high), scale, shape),
        resample_labels(item.labels, scale, shape),
        item.source,
    )
