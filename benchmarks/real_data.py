"""Loaders for the shared real-data crops, as SpatialData objects shaped like the vendor readers make them.

The crops live outside the repository (``../shared/data`` next to the checkout, described in its
``README.md``); they are for benchmarks and exploration, never for the test suite proper. The
folder is taken from the environment variable ``HALO_SHARED_DATA`` when set, else from
``Path(__file__).resolve().parents[2] / "shared" / "data"``. Every loader raises
:class:`FileNotFoundError` naming the missing path instead of silently skipping anything.

Loaders
-------
:func:`xenium_breast_crop`
    10x Xenium v1 human breast crop from ``xenium_breast_crop_raw/`` (raw instrument columns,
    microns), laid out as ``spatialdata_io.xenium`` does: image ``morphology_focus`` (channel
    ``DAPI``, uint16, Identity to ``"global"`` = pixel space) and points ``transcripts`` in
    microns with ``feature_name`` (categorical), ``qv``, ``cell_id``, ``overlaps_nucleus``,
    ``transcript_id`` and a micron -> pixel transformation to ``"global"``.
:func:`merscope_brain_crop`
    Vizgen MERSCOPE mouse-brain crop from ``merscope_brain_crop_z{z}.npz``, laid out as
    ``spatialdata_io.merscope`` does: image ``brain_crop_z{z}`` (channel ``DAPI``, uint8,
    Identity to ``"global"`` = mosaic pixels), points ``brain_crop_transcripts`` in microns with
    ``gene`` (categorical) and an ``Affine`` micron -> pixel transformation, plus the vendor
    segmentation as labels ``vendor_cells``.
:func:`breast_markers`, :func:`breast_reference`
    The single-cell marker tables and mean-expression reference for the breast panel.

Run ``python benchmarks/real_data.py`` to build every crop and log a summary.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from spatialdata import SpatialData
from spatialdata.models import Image2DModel, Labels2DModel, PointsModel
from spatialdata.transformations import Affine, Identity, Scale, Sequence, Translation

logger = logging.getLogger(__name__)

__all__ = [
    "ENV_VAR",
    "MERSCOPE_CROP_ORIGIN_UM",
    "MERSCOPE_DATASET_ID",
    "MERSCOPE_LABELS_KEY",
    "XENIUM_CROP_ORIGIN_UM",
    "XENIUM_IMAGE_KEY",
    "XENIUM_POINTS_KEY",
    "XENIUM_RAW_DIR",
    "XENIUM_UM_PER_PX",
    "breast_markers",
    "breast_reference",
    "merscope_brain_crop",
    "merscope_keys",
    "merscope_points_to_pixel",
    "shared_data_dir",
    "xenium_breast_crop",
    "xenium_points_to_pixel",
]

#: Environment variable that overrides the location of the shared data folder.
ENV_VAR = "HALO_SHARED_DATA"

#: Xenium crop: (x, y) micron position of the crop's pixel corner (0, 0), and pixel size.
XENIUM_CROP_ORIGIN_UM: tuple[float, float] = (1062.5, 212.5)
XENIUM_UM_PER_PX = 0.2125
XENIUM_IMAGE_KEY = "morphology_focus"
XENIUM_POINTS_KEY = "transcripts"
XENIUM_RAW_DIR = "xenium_breast_crop_raw"

#: MERSCOPE crop: the npz holds pixel positions only, so the micron frame is made up here. This
#: (x, y) micron origin of mosaic pixel (0, 0) is arbitrary (chosen so that the micron
#: coordinates are neither zero-based nor pixel-like, as in real runs); keep it fixed.
MERSCOPE_CROP_ORIGIN_UM: tuple[float, float] = (-38.75, 1947.3)
MERSCOPE_DATASET_ID = "brain_crop"
MERSCOPE_LABELS_KEY = "vendor_cells"

_XENIUM_RAW_COLUMNS = (
    "transcript_id",
    "cell_id",
    "overlaps_nucleus",
    "feature_name",
    "x_location",
    "y_location",
    "z_location",
    "qv",
)
# Vendor readers' defaults (spatialdata-io 0.7.1: xenium and merscope).
_SCALE_FACTORS = [2, 2, 2, 2]
_IMAGE_CHUNKS = (1, 4096, 4096)
_LABELS_CHUNKS = (4096, 4096)


def shared_data_dir() -> Path:
    """Return the shared real-data folder.

    Returns
    -------
    Path
        ``$HALO_SHARED_DATA`` if set, else ``<checkout>/../shared/data``.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    """
    env = os.environ.get(ENV_VAR)
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        raise FileNotFoundError(
            f"Shared real-data folder not found at {path} "
            f"({'from $' + ENV_VAR if env else 'default: ../shared/data next to the checkout; set $' + ENV_VAR}). "
            "The crops are not part of the repository."
        )
    return path


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"Expected shared data file {path} is missing (see {path.parent}/README.md).")
    return path


def xenium_points_to_pixel() -> Sequence:
    """Return the Xenium crop's micron -> crop-pixel transformation.

    Returns
    -------
    Sequence
        ``Sequence([Translation(-origin), Scale([1 / 0.2125] * 2)])`` on axes ``("x", "y")``,
        so pixel col = ``(x - 1062.5) / 0.2125`` and row = ``(y - 212.5) / 0.2125``.
    """
    ox, oy = XENIUM_CROP_ORIGIN_UM
    return Sequence(
        [
            Translation([-ox, -oy], axes=("x", "y")),
            Scale([1.0 / XENIUM_UM_PER_PX, 1.0 / XENIUM_UM_PER_PX], axes=("x", "y")),
        ]
    )


def xenium_breast_crop(*, multiscale: bool = True) -> SpatialData:
    """Load the 10x Xenium human breast crop as ``spatialdata_io.xenium`` would lay it out.

    Built from ``xenium_breast_crop_raw/``: ``morphology_mip_small.tif`` (2-D uint16 DAPI MIP,
    1800 x 2400 px at 0.2125 um/px) and ``transcripts_small.csv.gz`` (the instrument's columns,
    microns; already restricted to qv >= 20 and to panel genes, in the same row order as
    ``xenium_breast_crop.npz``).

    Parameters
    ----------
    multiscale
        Build the image as a 5-level pyramid (``scale_factors=[2, 2, 2, 2]``, a
        :class:`xarray.DataTree`) as the vendor reader does; if ``False`` a single
        :class:`xarray.DataArray`.

    Returns
    -------
    SpatialData
        - image ``morphology_focus``: ``(c, y, x)`` = ``(1, 1800, 2400)``, channel ``DAPI``,
          uint16, ``Identity`` to ``"global"`` (crop pixel space).
        - points ``transcripts``: ``x, y, z`` in microns; ``feature_name`` (categorical, feature
          key), ``cell_id`` (int64 vendor cell, -1 = unassigned; instance key), ``overlaps_nucleus``,
          ``qv``, ``transcript_id``; transformation to ``"global"`` = :func:`xenium_points_to_pixel`.
          Rows keep the CSV order.

        There is no labels element: the npz holds per-transcript vendor cell ids
        (``vendor_cell``, equal to ``cell_id``), not a label image.

    Raises
    ------
    FileNotFoundError
        If the shared folder or one of the files is missing.
    """
    import tifffile

    t0 = time.perf_counter()
    raw = shared_data_dir() / XENIUM_RAW_DIR
    tif = _require(raw / "morphology_mip_small.tif")
    csv = _require(raw / "transcripts_small.csv.gz")

    dapi = tifffile.imread(tif)
    if dapi.ndim != 2:
        raise ValueError(f"{tif} should hold a 2-D image; got shape {dapi.shape}.")
    image = Image2DModel.parse(
        dapi[np.newaxis],
        dims=("c", "y", "x"),
        c_coords=["DAPI"],
        transformations={"global": Identity()},
        **_raster_kwargs(multiscale, _IMAGE_CHUNKS),
    )

    df = pd.read_csv(csv, engine="pyarrow")
    missing = [c for c in _XENIUM_RAW_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{csv} lacks Xenium column(s) {missing}; has {list(df.columns)}.")
    df = df[list(_XENIUM_RAW_COLUMNS)].reset_index(drop=True)  # drops the unnamed row-number column
    df["feature_name"] = pd.Categorical(df["feature_name"], categories=sorted(df["feature_name"].unique()))
    points = PointsModel.parse(
        df,
        coordinates={"x": "x_location", "y": "y_location", "z": "z_location"},
        feature_key="feature_name",
        instance_key="cell_id",
        transformations={"global": xenium_points_to_pixel()},
    )
    sdata = SpatialData(images={XENIUM_IMAGE_KEY: image}, points={XENIUM_POINTS_KEY: points})
    logger.info(
        "Built Xenium breast crop in %.2f s: image %r %s %s, points %r with %d transcripts, %d genes, %.1f%% assigned.",
        time.perf_counter() - t0,
        XENIUM_IMAGE_KEY,
        dapi.shape,
        dapi.dtype,
        XENIUM_POINTS_KEY,
        len(df),
        len(df["feature_name"].cat.categories),
        100.0 * float((df["cell_id"] > 0).mean()) if pd.api.types.is_integer_dtype(df["cell_id"]) else float("nan"),
    )
    return sdata


def merscope_keys(z: int = 0) -> dict[str, str]:
    """Return the element names :func:`merscope_brain_crop` uses for plane ``z``.

    Parameters
    ----------
    z
        z-plane index.

    Returns
    -------
    dict
        ``{"image": "brain_crop_z{z}", "points": "brain_crop_transcripts", "labels": "vendor_cells"}``.
    """
    return {
        "image": f"{MERSCOPE_DATASET_ID}_z{z}",
        "points": f"{MERSCOPE_DATASET_ID}_transcripts",
        "labels": MERSCOPE_LABELS_KEY,
    }


def merscope_points_to_pixel(um_per_px: float) -> Affine:
    """Return the MERSCOPE crop's micron -> mosaic-pixel ``Affine`` (as ``micron_to_mosaic_pixel_transform.csv``).

    Parameters
    ----------
    um_per_px
        Pixel size in microns.

    Returns
    -------
    Affine
        ``pixel = (um - MERSCOPE_CROP_ORIGIN_UM) / um_per_px`` on axes ``("x", "y")``.
    """
    s = 1.0 / um_per_px
    ox, oy = MERSCOPE_CROP_ORIGIN_UM
    matrix = np.array([[s, 0.0, -ox * s], [0.0, s, -oy * s], [0.0, 0.0, 1.0]])
    return Affine(matrix, input_axes=("x", "y"), output_axes=("x", "y"))


def merscope_brain_crop(z: int = 0, *, multiscale: bool = True) -> SpatialData:
    """Load the Vizgen MERSCOPE mouse-brain crop of one z-plane as ``spatialdata_io.merscope`` would lay it out.

    Built from ``merscope_brain_crop_z{z}.npz`` (DAPI uint8 4143 x 4603 px at ~0.1086 um/px,
    transcripts in pixel units, vendor labels). Transcript pixel positions are turned into
    microns with the (made-up) origin :data:`MERSCOPE_CROP_ORIGIN_UM`:
    ``global_x = tx_x * um_per_px + origin_x``; the points carry the inverse ``Affine``.

    Parameters
    ----------
    z
        z-plane (0 or 1; whichever ``merscope_brain_crop_z{z}.npz`` exist).
    multiscale
        Build image and labels as 5-level pyramids (``scale_factors=[2, 2, 2, 2]``) as the vendor
        reader does for images; if ``False`` single-scale :class:`xarray.DataArray` elements.

    Returns
    -------
    SpatialData
        Element names from :func:`merscope_keys`:

        - image ``brain_crop_z{z}``: ``(1, 4143, 4603)``, channel ``DAPI``, uint8, ``Identity`` to
          ``"global"`` (mosaic pixels).
        - points ``brain_crop_transcripts``: ``x, y`` in microns (``global_x``, ``global_y``),
          ``z`` = the plane index (``global_z``); ``gene`` (categorical, feature key),
          ``barcode_id`` (index into the npz gene list), ``transcript_id``; ``Affine`` to ``"global"``
          from :func:`merscope_points_to_pixel`. No instance key (the npz has no per-transcript cell).
        - labels ``vendor_cells``: int32 vendor segmentation (``gt_labels``), ``Identity`` to ``"global"``.

    Raises
    ------
    FileNotFoundError
        If the shared folder or the npz for ``z`` is missing.
    """
    t0 = time.perf_counter()
    data_dir = shared_data_dir()
    npz_path = data_dir / f"merscope_brain_crop_z{z}.npz"
    if not npz_path.exists():
        available = sorted(p.name for p in data_dir.glob("merscope_brain_crop_z*.npz"))
        raise FileNotFoundError(f"No MERSCOPE crop for z={z}: {npz_path} is missing; found {available}.")
    keys = merscope_keys(z)
    with np.load(npz_path) as npz:
        dapi = npz["dapi"]
        um_per_px = float(npz["um_per_px"])
        tx_x = npz["tx_x"].astype(np.float64)
        tx_y = npz["tx_y"].astype(np.float64)
        tx_gene = npz["tx_gene"]
        genes = npz["genes"].astype(str)
        if "gt_labels" not in npz.files:
            raise FileNotFoundError(f"{npz_path} has no `gt_labels` array; the vendor labels are expected there.")
        gt_labels = npz["gt_labels"]

    image = Image2DModel.parse(
        dapi[np.newaxis],
        dims=("c", "y", "x"),
        c_coords=["DAPI"],
        transformations={"global": Identity()},
        **_raster_kwargs(multiscale, _IMAGE_CHUNKS),
    )
    ox, oy = MERSCOPE_CROP_ORIGIN_UM
    df = pd.DataFrame(
        {
            "barcode_id": tx_gene.astype(np.int64),
            "global_x": tx_x * um_per_px + ox,
            "global_y": tx_y * um_per_px + oy,
            "global_z": np.full(len(tx_x), float(z)),
            "gene": pd.Categorical.from_codes(tx_gene, categories=genes),
            "transcript_id": np.arange(len(tx_x), dtype=np.int64),
        }
    )
    points = PointsModel.parse(
        df,
        coordinates={"x": "global_x", "y": "global_y", "z": "global_z"},
        feature_key="gene",
        transformations={"global": merscope_points_to_pixel(um_per_px)},
    )
    elements: dict[str, Any] = {"images": {keys["image"]: image}, "points": {keys["points"]: points}}
    labels = Labels2DModel.parse(
        gt_labels.astype(np.int32, copy=False),
        dims=("y", "x"),
        transformations={"global": Identity()},
        **_raster_kwargs(multiscale, _LABELS_CHUNKS),
    )
    elements["labels"] = {keys["labels"]: labels}
    sdata = SpatialData(**elements)
    logger.info(
        "Built MERSCOPE brain crop z=%d in %.2f s: image %r %s %s, points %r with %d transcripts, %d genes, "
        "labels %r with %d cells, %.4f um/px.",
        z,
        time.perf_counter() - t0,
        keys["image"],
        dapi.shape,
        dapi.dtype,
        keys["points"],
        len(df),
        len(genes),
        keys["labels"],
        len(pd.unique(gt_labels.ravel())) - int((gt_labels == 0).any()),
        um_per_px,
    )
    return sdata


def breast_markers(*, as_lists: bool = False) -> dict[str, Any]:
    """Read the breast panel's positive / negative marker tables.

    Parameters
    ----------
    as_lists
        If ``True``, return gene lists per cell type instead of boolean tables.

    Returns
    -------
    dict
        ``{"pos": ..., "neg": ...}`` from ``sc_breast_markers_pos.csv`` / ``_neg.csv``: boolean
        DataFrames (cell type x panel gene, 15 x 313), or with ``as_lists`` dicts
        ``{cell_type: [gene, ...]}`` (cell types with no marker map to an empty list).

    Raises
    ------
    FileNotFoundError
        If the shared folder or a marker file is missing.
    """
    raw = shared_data_dir() / XENIUM_RAW_DIR
    out: dict[str, Any] = {}
    for kind in ("pos", "neg"):
        table = pd.read_csv(_require(raw / f"sc_breast_markers_{kind}.csv"), index_col=0)
        table.index.name = "cell_type"
        table = table.astype(bool)
        out[kind] = {ct: list(row.index[row.to_numpy()]) for ct, row in table.iterrows()} if as_lists else table
    return out


def breast_reference() -> pd.DataFrame:
    """Read the single-cell reference of mean expression per cell type on the breast panel.

    Returns
    -------
    pandas.DataFrame
        ``sc_breast.csv``: one row per (cell type, atlas) profile, the panel genes as columns plus
        ``ct_idx``, ``cell_type`` and ``atlas``.

    Raises
    ------
    FileNotFoundError
        If the shared folder or the file is missing.
    """
    return pd.read_csv(_require(shared_data_dir() / XENIUM_RAW_DIR / "sc_breast.csv"), index_col=0)


def _raster_kwargs(multiscale: bool, chunks: tuple[int, ...]) -> dict[str, Any]:
    return {"scale_factors": _SCALE_FACTORS, "chunks": chunks} if multiscale else {"chunks": chunks}


def _summarise(name: str, sdata: SpatialData) -> None:
    from spatialdata.transformations import get_transformation

    for kind in ("images", "labels", "points"):
        for key, element in getattr(sdata, kind).items():
            if kind == "points":
                desc = f"{len(element)} rows, columns {list(element.columns)}"
            else:
                arr = element["scale0"]["image" if kind == "images" else next(iter(element["scale0"].data_vars))]
                desc = f"{dict(arr.sizes)} {arr.dtype}"
            transformation = " ".join(repr(get_transformation(element, "global")).split())
            logger.info("%s: %s %r: %s; to global: %s", name, kind, key, desc, transformation)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _summarise("xenium_breast_crop", xenium_breast_crop())
    for name in ("pos", "neg"):
        table = breast_markers()[name]
        n_types, n_genes = table.shape
        n_marks = int(table.to_numpy().sum())
        logger.info("breast_markers[%r]: %d cell types x %d genes, %d marks", name, n_types, n_genes, n_marks)
    for z in (0, 1):
        _summarise(f"merscope_brain_crop(z={z})", merscope_brain_crop(z))
