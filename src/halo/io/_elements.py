"""Finding the nuclear image and the transcripts in a SpatialData object, and mapping between their spaces."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import dask.array as da
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

NUCLEAR_CHANNEL_NAMES = ("dapi", "hoechst", "nuclear", "nuclei", "dna")


@dataclass(frozen=True)
class NuclearImage:
    """The nuclear channel chosen for segmentation."""

    key: str
    """Name of the image element."""
    channel: str | int
    """Channel name (or index when the channels are unnamed)."""
    data: da.Array
    """Full-resolution ``(y, x)`` dask array of the channel."""
    overview: da.Array
    """A smaller ``(y, x)`` pyramid level of the same channel (``data`` itself when there is none)."""
    transformations: dict[str, Any]
    """The image element's transformations, for outputs drawn in its pixel space."""


def pyramid_levels(element) -> list:
    """The ``DataArray`` of each level of an image or labels element, full resolution first (one if single-scale)."""
    from spatialdata import get_pyramid_levels
    from xarray import DataTree

    return get_pyramid_levels(element) if isinstance(element, DataTree) else [element]


def _scale0(element):
    """Full-resolution DataArray of an image or labels element, multiscale or not."""
    return pyramid_levels(element)[0]


def _smallest_level(element, max_pixels: int = 16_000_000):
    """The largest pyramid level of at most ``max_pixels`` pixels, else the smallest level."""
    levels = pyramid_levels(element)
    fitting = [lvl for lvl in levels if lvl.sizes["y"] * lvl.sizes["x"] <= max_pixels]
    return fitting[0] if fitting else levels[-1]


def channel_names(array) -> list:
    """The names of an image's channels (their indices when it has none)."""
    return array.coords["c"].values.tolist() if "c" in array.coords else list(range(array.sizes.get("c", 1)))


def channel_index(key: str, names: list, channel: str | int | None) -> int:
    """Position of ``channel`` (a name or an index) among ``names``; by default the nuclear stain or the only one."""
    if channel is not None:
        if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
            if not -len(names) <= channel < len(names):
                msg = f"Image {key!r} has {len(names)} channels; channel={channel} is out of range."
                raise ValueError(msg)
            return int(channel) % len(names)
        if channel in names:
            return names.index(channel)
        msg = f"Image {key!r} has no channel {channel!r}; its channels are {names}. Pass one of them as `channel=`."
        raise ValueError(msg)
    if len(names) == 1:
        return 0
    lowered = [str(n).lower() for n in names]
    for candidate in NUCLEAR_CHANNEL_NAMES:
        if candidate in lowered:
            return lowered.index(candidate)
    msg = (
        f"Image {key!r} has channels {names} and none is named DAPI; "
        "pass the nuclear stain's channel name or index as `channel=`."
    )
    raise ValueError(msg)


def _image_candidates(sdata: SpatialData) -> list[str]:
    """Images with a nuclear channel by name, or a single channel."""
    found = []
    for key, element in sdata.images.items():
        names = channel_names(_scale0(element))
        if len(names) == 1 or any(str(n).lower() in NUCLEAR_CHANNEL_NAMES for n in names):
            found.append(key)
    return found


def get_nuclear_image(sdata: SpatialData, *, image_key: str | None = None, channel: str | int | None = None):
    """Find the nuclear image and channel.

    Parameters
    ----------
    sdata
        The SpatialData object.
    image_key
        Name of the image element; found automatically when exactly one image has a DAPI-like or single channel.
    channel
        Channel name or index; by default the one named DAPI (or Hoechst, DNA), or the only channel.

    Returns
    -------
    A :class:`NuclearImage`.
    """
    from spatialdata.transformations import get_transformation

    if image_key is None:
        candidates = _image_candidates(sdata)
        if len(candidates) != 1:
            problem = "no image with a DAPI or single channel" if not candidates else f"several: {candidates}"
            msg = f"Cannot choose the nuclear image ({problem}; images: {list(sdata.images)}). Pass `image_key=`."
            raise ValueError(msg)
        image_key = candidates[0]
    if image_key not in sdata.images:
        msg = f"No image element {image_key!r}; the images are {list(sdata.images)}."
        raise KeyError(msg)
    element = sdata.images[image_key]
    full = _scale0(element)
    if set(full.dims) - {"c", "y", "x"}:
        msg = f"Image {image_key!r} has dims {full.dims}; halo segments 2-D images (c, y, x). Project z first."
        raise ValueError(msg)
    index = channel_index(image_key, channel_names(full), channel)
    names = channel_names(full)
    overview = _smallest_level(element)
    return NuclearImage(
        key=image_key,
        channel=names[index] if isinstance(names[index], int) else str(names[index]),
        data=full.data[index] if "c" in full.dims else full.data,
        overview=overview.data[index] if "c" in overview.dims else overview.data,
        transformations=get_transformation(element, get_all=True),
    )


def find_points_key(sdata: SpatialData, points_key: str | None = None) -> str:
    """The transcripts element: ``points_key`` or the only points element."""
    if points_key is None:
        if len(sdata.points) != 1:
            problem = "there are none" if not sdata.points else f"candidates: {list(sdata.points)}"
            msg = f"Cannot choose the transcripts element ({problem}). Pass `points_key=`."
            raise ValueError(msg)
        return next(iter(sdata.points))
    if points_key not in sdata.points:
        msg = f"No points element {points_key!r}; the points are {list(sdata.points)}."
        raise KeyError(msg)
    return points_key


def affine_between(sdata: SpatialData, source_key: str, target_key: str) -> np.ndarray:
    """3x3 affine matrix mapping ``(x, y, 1)`` of element ``source_key`` into the intrinsic space of ``target_key``.

    Raises a ValueError naming both elements when they share no coordinate system.
    """
    from spatialdata.transformations import get_transformation_between_coordinate_systems

    shared = _affine_through_shared_systems(sdata, source_key, target_key)
    if shared is not None:
        return shared
    try:
        transform = get_transformation_between_coordinate_systems(sdata, sdata[source_key], sdata[target_key])
    except Exception as error:  # spatialdata raises several types for a missing path
        msg = (
            f"Elements {source_key!r} and {target_key!r} share no coordinate system ({error}). "
            "Give both a transformation to a common system, e.g. with spatialdata.transformations.set_transformation."
        )
        raise ValueError(msg) from error
    return np.asarray(transform.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y")), dtype=np.float64)


def _affine_through_shared_systems(sdata: SpatialData, source_key: str, target_key: str) -> np.ndarray | None:
    """Map through the coordinate systems both elements share (CosMx: the FOV's and "global"); None if none.

    spatialdata refuses several equally short paths, which CosMx objects always have; they must agree here.
    """
    from spatialdata.transformations import get_transformation

    def affine(transformation):
        return np.asarray(transformation.to_affine_matrix(input_axes=("x", "y"), output_axes=("x", "y")), np.float64)

    source = get_transformation(sdata[source_key], get_all=True)
    target = get_transformation(sdata[target_key], get_all=True)
    matrices = {cs: np.linalg.solve(affine(target[cs]), affine(source[cs])) for cs in source if cs in target}
    if not matrices:
        return None
    first_cs, first = next(iter(matrices.items()))
    for cs, matrix in matrices.items():
        if not np.allclose(matrix, first, atol=1e-6 * max(1.0, np.abs(first).max())):
            msg = (
                f"Elements {source_key!r} and {target_key!r} are aligned differently in coordinate systems "
                f"{first_cs!r} and {cs!r}; fix their transformations so that every shared system agrees."
            )
            raise ValueError(msg)
    return first


def apply_affine(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``(n, 2)`` points ``(x, y)`` mapped by a 3x3 affine ``matrix`` (as :func:`affine_between` gives it)."""
    return xy @ matrix[:2, :2].T + matrix[:2, 2]


def microns_to_pixels(um_per_px: float, origin_um: tuple[float, float] = (0.0, 0.0), *, as_affine: bool = False):
    """The spatialdata transformation from micrometres to the pixels of an image whose corner lies at ``origin_um``.

    ``pixel = (micron - origin_um) / um_per_px``, as the vendors' readers write it: a ``Scale`` (Xenium, origin 0),
    a ``Translation`` then a ``Scale`` (CosMx), or with ``as_affine`` one ``Affine`` (MERSCOPE).
    """
    from spatialdata.transformations import Affine, Scale, Sequence, Translation

    s = 1.0 / um_per_px
    ox, oy = origin_um
    if as_affine:
        matrix = np.array([[s, 0.0, -ox * s], [0.0, s, -oy * s], [0.0, 0.0, 1.0]])
        return Affine(matrix, input_axes=("x", "y"), output_axes=("x", "y"))
    scale = Scale([s, s], axes=("x", "y"))
    return scale if (ox, oy) == (0.0, 0.0) else Sequence([Translation([-ox, -oy], axes=("x", "y")), scale])


def pixel_size_um(points_to_pixels: np.ndarray) -> float:
    """Micrometres per image pixel, assuming the transcripts are in micrometres."""
    det = abs(np.linalg.det(points_to_pixels[:2, :2]))
    if not np.isfinite(det) or det == 0:
        msg = "The transcripts-to-image transformation is singular; check the elements' transformations."
        raise ValueError(msg)
    return float(1 / np.sqrt(det))


def labels_on_image_grid(sdata: SpatialData, labels_key: str, image_key: str, shape: tuple[int, int]):
    """Full-resolution ``(y, x)`` dask array of a labels element that lies on the image's pixel grid."""
    element = _scale0(sdata.labels[labels_key])
    if tuple(element.shape[-2:]) != tuple(shape):
        msg = (
            f"Labels {labels_key!r} have shape {tuple(element.shape)}, the image {image_key!r} {shape}; "
            "they must match."
        )
        raise ValueError(msg)
    if not np.allclose(affine_between(sdata, labels_key, image_key), np.eye(3)):
        msg = f"Labels {labels_key!r} are not on the pixel grid of image {image_key!r}; resample them first."
        raise ValueError(msg)
    if not np.issubdtype(element.dtype, np.integer):
        msg = f"Labels {labels_key!r} have dtype {element.dtype}; nucleus labels must be integers."
        raise ValueError(msg)
    return element.data
