"""``from_files``: a SpatialData from a vendor's nuclear-image TIFF and transcript table, laid out like Xenium's."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

# spatialdata-io 0.7.1's xenium reader: a 5-level pyramid in 4096-pixel chunks
SCALE_FACTORS = [2, 2, 2, 2]
IMAGE_CHUNKS = (1, 4096, 4096)
# a row number written by pandas (``to_csv`` with its index) comes back as an unnamed column
_UNNAMED = re.compile(r"|Unnamed: \d+")


def from_files(
    image: str | os.PathLike,
    transcripts: str | os.PathLike,
    *,
    um_per_px: float,
    origin_um: tuple[float, float] = (0.0, 0.0),
    x: str = "x_location",
    y: str = "y_location",
    z: str | None = None,
    gene: str = "feature_name",
    instance_key: str | None = None,
    qv: str = "qv",
    min_qv: float | None = None,
    channel: str | Sequence[str] = "DAPI",
    image_key: str = "morphology_focus",
    points_key: str = "transcripts",
    multiscale: bool = True,
) -> SpatialData:
    """Build a SpatialData from a nuclear-image TIFF and a transcript table, laid out as ``spatialdata_io.xenium`` does.

    The ``"global"`` coordinate system is the image's pixel space; the transcripts stay in micrometres and map to it
    by ``pixel = (micron - origin_um) / um_per_px`` (:func:`halo.io.microns_to_pixels`).

    Parameters
    ----------
    image
        TIFF of the nuclear stain: 2-D ``(y, x)`` or ``(c, y, x)`` (the first page series, full resolution). It is
        read into memory.
    transcripts
        Transcript table: ``.csv``, ``.csv.gz`` (any compression pandas recognises) or ``.parquet``, one row per
        molecule, positions in micrometres. Every column is kept (an unnamed row-number column is dropped).
    um_per_px
        Micrometres per image pixel (Xenium 0.2125).
    origin_um
        ``(x, y)`` micrometre position of the image's pixel corner ``(0, 0)``: ``(0, 0)`` for a whole Xenium
        slide, the crop's corner for a crop.
    x, y
        Columns of the micrometre positions (Xenium ``x_location``, ``y_location``; MERSCOPE ``global_x``,
        ``global_y``).
    z
        Column of the depth, kept as the points' ``z`` coordinate; ``None`` keeps it (if any) as a plain column.
    gene
        Column of the gene names: made categorical (sorted categories) and declared as the feature key. Bytes (as
        in some Xenium parquet files) are decoded.
    instance_key
        Column of the vendor's cell id per transcript (Xenium ``cell_id``), declared as the instance key.
    qv, min_qv
        Quality column, and the quality below which transcripts are dropped (``None`` keeps every row, as
        ``spatialdata_io.xenium`` does; halo filters quality itself when it segments).
    channel
        Channel name of a 2-D image, or one name per channel of a ``(c, y, x)`` image (the nuclear stain first).
    image_key, points_key
        Names of the image and points elements (those of ``spatialdata_io.xenium`` by default).
    multiscale
        Store the image as a 5-level pyramid (``scale_factors=[2, 2, 2, 2]``, an :class:`xarray.DataTree`) as the
        vendor reader does; if ``False`` a single :class:`xarray.DataArray`.

    Returns
    -------
    SpatialData
        - image ``image_key``: ``(c, y, x)``, the TIFF's dtype, channels ``channel``, ``Identity`` to ``"global"``.
        - points ``points_key``: ``x``, ``y`` (and ``z``) in micrometres, every other column of the table, rows in
          the file's order; transformation to ``"global"`` ``halo.io.microns_to_pixels(um_per_px, origin_um)``.

    Raises
    ------
    FileNotFoundError
        If ``image`` or ``transcripts`` does not exist.
    ValueError
        If a named column is missing (the message lists the table's columns), the image is not 2-D or
        ``(c, y, x)``, the channel names do not match its channels, or ``um_per_px`` is not positive.

    Examples
    --------
    >>> sdata = halo.datasets.from_files(
    ...     "morphology_mip.tif", "transcripts.csv.gz", um_per_px=0.2125, z="z_location", instance_key="cell_id"
    ... )  # doctest: +SKIP
    >>> halo.tl.segment(sdata)  # doctest: +SKIP
    """
    from spatialdata import SpatialData

    start = time.perf_counter()
    if not (np.isfinite(um_per_px) and um_per_px > 0):
        msg = f"um_per_px must be a positive number of micrometres per pixel, got {um_per_px!r}."
        raise ValueError(msg)
    image_path, table_path = _existing(image, "image"), _existing(transcripts, "transcripts")
    pixels, channels = _read_image(image_path, channel)
    frame = _read_table(table_path)
    columns = {
        "x": x,
        "y": y,
        "z": z,
        "gene": gene,
        "instance_key": instance_key,
        "qv": qv if min_qv is not None else None,
    }
    _check_columns(frame, table_path, columns)
    if min_qv is not None:
        frame = frame[frame[qv] >= min_qv].reset_index(drop=True)
    frame[gene] = _categorical(frame[gene])
    sdata = SpatialData(
        images={image_key: image_element(pixels, channels, multiscale=multiscale)},
        points={points_key: _points_element(frame, columns, um_per_px, origin_um)},
    )
    _warn_if_off_image(frame, x, y, pixels.shape[1:], um_per_px, origin_um, table_path)
    logger.info(
        "Built a SpatialData from %s and %s in %.2f s: image %r %s %s, points %r with %d transcripts, %d genes.",
        image_path.name,
        table_path.name,
        time.perf_counter() - start,
        image_key,
        pixels.shape,
        pixels.dtype,
        points_key,
        len(frame),
        len(frame[gene].cat.categories),
    )
    return sdata


def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        msg = f"The {what} file {path} does not exist; check the path (relative paths start at {Path.cwd()})."
        raise FileNotFoundError(msg)
    return path


def _read_image(path: Path, channel: str | Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The image as ``(c, y, x)`` and its channel names."""
    import tifffile

    pixels = tifffile.imread(path)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.ndim != 3:
        msg = f"{path} holds an image of shape {pixels.shape}; expected 2-D (y, x) or (c, y, x)."
        raise ValueError(msg)
    channels = [channel] if isinstance(channel, str) else [str(c) for c in channel]
    if len(channels) != pixels.shape[0]:
        msg = (
            f"{path} has {pixels.shape[0]} channel(s) (shape {pixels.shape}) but {len(channels)} channel name(s) "
            f"were given ({channels}); pass channel=[...] with one name per channel, the nuclear stain first."
        )
        raise ValueError(msg)
    return pixels, channels


def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, engine="pyarrow")
    unnamed = [c for c in frame.columns if _UNNAMED.fullmatch(str(c))]
    return frame.drop(columns=unnamed).reset_index(drop=True)


def _check_columns(frame: pd.DataFrame, path: Path, columns: dict[str, str | None]) -> None:
    for option, column in columns.items():
        if column is not None and column not in frame.columns:
            msg = (
                f"{path} has no column {column!r} (asked for by {option}=); its columns are {list(frame.columns)}. "
                f"Pass {option}=<the column's name>."
            )
            raise ValueError(msg)


def _categorical(values: pd.Series) -> pd.Categorical:
    """Gene names as a categorical with sorted categories (bytes decoded, as spatialdata-io does)."""
    import pandas as pd

    if values.dtype == object and len(values) and isinstance(values.iloc[0], bytes):
        values = values.str.decode("utf-8")
    values = values.astype(str)
    return pd.Categorical(values, categories=sorted(values.unique()))


def image_element(pixels: np.ndarray, channels: list[str], *, multiscale: bool):
    """A ``(c, y, x)`` image with identity to ``"global"``: a vendor-like pyramid or one scale."""
    from spatialdata.models import Image2DModel
    from spatialdata.transformations import Identity

    return Image2DModel.parse(
        pixels,
        dims=("c", "y", "x"),
        c_coords=channels,
        transformations={"global": Identity()},
        **raster_options(multiscale, IMAGE_CHUNKS),
    )


def _points_element(frame: pd.DataFrame, columns: dict[str, str | None], um_per_px: float, origin_um):
    from spatialdata.models import PointsModel

    from ..io import microns_to_pixels

    coordinates = {axis: columns[axis] for axis in ("x", "y", "z") if columns[axis] is not None}
    optional: dict[str, Any] = {"instance_key": columns["instance_key"]} if columns["instance_key"] else {}
    return PointsModel.parse(
        frame,
        coordinates=coordinates,
        feature_key=columns["gene"],
        transformations={"global": microns_to_pixels(um_per_px, tuple(origin_um))},
        **optional,
    )


def raster_options(multiscale: bool, chunks: tuple[int, ...]) -> dict[str, Any]:
    """Keyword arguments of ``Image2DModel.parse`` / ``Labels2DModel.parse``: a vendor-like pyramid or one scale."""
    return {"scale_factors": SCALE_FACTORS, "chunks": chunks} if multiscale else {"chunks": chunks}


def _warn_if_off_image(frame, x, y, shape, um_per_px, origin_um, path) -> None:
    """A wrong origin or pixel size puts transcripts off the image: say so now rather than after a segmentation."""
    if not len(frame):
        return
    col = (frame[x].to_numpy(np.float64) - origin_um[0]) / um_per_px
    row = (frame[y].to_numpy(np.float64) - origin_um[1]) / um_per_px
    outside = float(np.mean((col < 0) | (col >= shape[1]) | (row < 0) | (row >= shape[0])))
    if outside > 0.01:
        logger.warning(
            "%.1f%% of the transcripts in %s fall outside the %d x %d px image with origin_um=%s and um_per_px=%s; "
            "check both (the origin is the micron position of the image's top-left pixel corner).",
            100 * outside,
            path,
            shape[1],
            shape[0],
            tuple(origin_um),
            um_per_px,
        )
