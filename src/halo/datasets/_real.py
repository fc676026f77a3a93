"""Loaders of the shared real-data crops, as SpatialData objects shaped like the vendor readers make them.

The crops are not part of halo: they live in a shared folder described by its ``README.md``, taken from the
environment variable ``HALO_SHARED_DATA`` when set, else ``../shared/data`` next to the checkout of an editable
install (found from the package's location). An installed halo (a wheel) has no checkout: set ``HALO_SHARED_DATA``.
Every loader raises :class:`FileNotFoundError` naming what is missing.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._files import from_files, image_element, raster_options

if TYPE_CHECKING:
    import pandas as pd
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

#: Environment variable that gives the location of the shared data folder.
SHARED_DATA_ENV_VAR = "HALO_SHARED_DATA"

#: Xenium crop: (x, y) micron position of the crop's pixel corner (0, 0), and pixel size.
XENIUM_CROP_ORIGIN_UM: tuple[float, float] = (1062.5, 212.5)
XENIUM_UM_PER_PX = 0.2125
XENIUM_RAW_DIR = "xenium_breast_crop_raw"

#: MERSCOPE crop: the npz holds pixel positions only, so the micron frame is made up here. This (x, y) micron
#: origin of mosaic pixel (0, 0) is arbitrary (neither zero nor pixel-like, as in real runs); keep it fixed.
MERSCOPE_CROP_ORIGIN_UM: tuple[float, float] = (-38.75, 1947.3)
_MERSCOPE_DATASET_ID = "brain_crop"

#: Element names of :func:`cosmx_lung_crop`.
COSMX_KEYS = {"image": "image", "points": "transcripts", "labels": "vendor_cells"}
_COSMX_FILE = "cosmx_lung12_fov2.npz"

_LABELS_CHUNKS = (4096, 4096)


def shared_data_dir() -> Path:
    """Return the shared real-data folder.

    Returns
    -------
    Path
        ``$HALO_SHARED_DATA`` if set, else ``<checkout>/../shared/data`` for an editable install.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist, or halo is not installed from a checkout and ``HALO_SHARED_DATA`` is unset.
    """
    env = os.environ.get(SHARED_DATA_ENV_VAR)
    if env:
        path, origin = Path(env), f"from ${SHARED_DATA_ENV_VAR}"
    else:
        checkout = _checkout_root()
        if checkout is None:
            msg = (
                f"halo is not installed from a checkout ({Path(__file__).resolve()}), so there is no default shared "
                f"data folder; set ${SHARED_DATA_ENV_VAR} to the folder that holds the crops."
            )
            raise FileNotFoundError(msg)
        path, origin = checkout.parent / "shared" / "data", f"default: ../shared/data next to {checkout}"
    if not path.is_dir():
        msg = (
            f"Shared real-data folder not found at {path} ({origin}; set ${SHARED_DATA_ENV_VAR} to move it). "
            "The crops are not part of the repository."
        )
        raise FileNotFoundError(msg)
    return path


def _checkout_root() -> Path | None:
    """The repository that holds this source file (an editable install), or ``None`` for an installed package."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "halo").is_dir():
            return parent
    return None


def _require(path: Path) -> Path:
    if not path.exists():
        msg = f"Expected shared data file {path} is missing (see {path.parent}/README.md)."
        raise FileNotFoundError(msg)
    return path


def xenium_breast_crop(*, multiscale: bool = True) -> SpatialData:
    """Load the 10x Xenium human breast crop as ``spatialdata_io.xenium`` would lay it out.

    Built by :func:`from_files` from ``xenium_breast_crop_raw/``: ``morphology_mip_small.tif`` (2-D uint16 DAPI
    MIP, 1800 x 2400 px at 0.2125 um/px) and ``transcripts_small.csv.gz`` (the instrument's columns, microns;
    already restricted to qv >= 20 and to panel genes, in the same row order as ``xenium_breast_crop.npz``), with
    the crop's origin :data:`XENIUM_CROP_ORIGIN_UM`.

    Parameters
    ----------
    multiscale
        Build the image as a 5-level pyramid (a :class:`xarray.DataTree`) as the vendor reader does; if ``False``
        a single :class:`xarray.DataArray`.

    Returns
    -------
    SpatialData
        - image ``morphology_focus``: ``(c, y, x)`` = ``(1, 1800, 2400)``, channel ``DAPI``, uint16, ``Identity``
          to ``"global"`` (crop pixel space).
        - points ``transcripts``: ``x, y, z`` in microns; ``feature_name`` (categorical, feature key), ``cell_id``
          (int64 vendor cell, -1 = unassigned; instance key), ``overlaps_nucleus``, ``qv``, ``transcript_id``;
          ``Sequence([Translation(-origin), Scale(1 / 0.2125)])`` to ``"global"``. Rows keep the CSV order.

        There is no labels element: the crop has per-transcript vendor cell ids, not a label image.

    Raises
    ------
    FileNotFoundError
        If the shared folder or one of the files is missing.
    """
    raw = shared_data_dir() / XENIUM_RAW_DIR
    return from_files(
        _require(raw / "morphology_mip_small.tif"),
        _require(raw / "transcripts_small.csv.gz"),
        um_per_px=XENIUM_UM_PER_PX,
        origin_um=XENIUM_CROP_ORIGIN_UM,
        z="z_location",
        instance_key="cell_id",
        multiscale=multiscale,
    )


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
        "image": f"{_MERSCOPE_DATASET_ID}_z{z}",
        "points": f"{_MERSCOPE_DATASET_ID}_transcripts",
        "labels": "vendor_cells",
    }


def merscope_brain_crop(z: int = 0, *, multiscale: bool = True) -> SpatialData:
    """Load the Vizgen MERSCOPE mouse-brain crop of one z-plane as ``spatialdata_io.merscope`` would lay it out.

    Built from ``merscope_brain_crop_z{z}.npz`` (DAPI uint8 4143 x 4603 px at ~0.1086 um/px, transcripts in pixel
    units, vendor labels). Transcript pixel positions are turned into microns with the (made-up) origin
    :data:`MERSCOPE_CROP_ORIGIN_UM`: ``global_x = tx_x * um_per_px + origin_x``; the points carry the inverse
    ``Affine``.

    Parameters
    ----------
    z
        z-plane (0 or 1; whichever ``merscope_brain_crop_z{z}.npz`` exist).
    multiscale
        Build image and labels as 5-level pyramids as the vendor reader does for images; if ``False`` single-scale
        :class:`xarray.DataArray` elements.

    Returns
    -------
    SpatialData
        Element names from :func:`merscope_keys`:

        - image ``brain_crop_z{z}``: ``(1, 4143, 4603)``, channel ``DAPI``, uint8, ``Identity`` to ``"global"``
          (mosaic pixels).
        - points ``brain_crop_transcripts``: ``x, y`` in microns (``global_x``, ``global_y``), ``z`` = the plane
          index (``global_z``); ``gene`` (categorical, feature key), ``barcode_id`` (index into the npz gene list),
          ``transcript_id``; an ``Affine`` to ``"global"``
          (``halo.io.microns_to_pixels(um_per_px, MERSCOPE_CROP_ORIGIN_UM, as_affine=True)``). No instance key
          (the npz has no per-transcript cell).
        - labels ``vendor_cells``: int32 vendor segmentation (``gt_labels``), ``Identity`` to ``"global"``.

    Raises
    ------
    FileNotFoundError
        If the shared folder or the npz for ``z`` is missing.
    """
    import pandas as pd
    from spatialdata import SpatialData
    from spatialdata.models import PointsModel

    from ..io import microns_to_pixels

    start = time.perf_counter()
    data_dir = shared_data_dir()
    npz_path = data_dir / f"merscope_brain_crop_z{z}.npz"
    if not npz_path.exists():
        available = sorted(p.name for p in data_dir.glob("merscope_brain_crop_z*.npz"))
        msg = f"No MERSCOPE crop for z={z}: {npz_path} is missing; found {available}."
        raise FileNotFoundError(msg)
    keys = merscope_keys(z)
    npz = _read_npz(npz_path, ("dapi", "um_per_px", "tx_x", "tx_y", "tx_gene", "genes", "gt_labels"))
    um_per_px = float(npz["um_per_px"])
    ox, oy = MERSCOPE_CROP_ORIGIN_UM
    tx_gene = npz["tx_gene"]
    frame = pd.DataFrame(
        {
            "barcode_id": tx_gene.astype(np.int64),
            "global_x": npz["tx_x"].astype(np.float64) * um_per_px + ox,
            "global_y": npz["tx_y"].astype(np.float64) * um_per_px + oy,
            "global_z": np.full(tx_gene.size, float(z)),
            "gene": pd.Categorical.from_codes(tx_gene, categories=npz["genes"].astype(str)),
            "transcript_id": np.arange(tx_gene.size, dtype=np.int64),
        }
    )
    points = PointsModel.parse(
        frame,
        coordinates={"x": "global_x", "y": "global_y", "z": "global_z"},
        feature_key="gene",
        transformations={"global": microns_to_pixels(um_per_px, MERSCOPE_CROP_ORIGIN_UM, as_affine=True)},
    )
    sdata = SpatialData(
        images={keys["image"]: image_element(npz["dapi"][np.newaxis], ["DAPI"], multiscale=multiscale)},
        points={keys["points"]: points},
        labels={keys["labels"]: _labels_element(npz["gt_labels"], multiscale=multiscale)},
    )
    _log_built(f"MERSCOPE brain crop z={z}", start, keys, npz, um_per_px)
    return sdata


def cosmx_lung_crop(*, multiscale: bool = True) -> SpatialData:
    """Load the NanoString CosMx lung crop (Lung12, FOV 2) with the vendor's whole-cell segmentation.

    Built from ``cosmx_lung12_fov2.npz``: DAPI (uint8, the blue channel of the composite, 648 x 672 px at
    0.18 um/px), transcripts in pixel units without control probes, and the vendor's cells, segmented with membrane
    and cytoplasm stains as well as DAPI: the one real whole-cell reference among the crops. Laid out as the outside
    check ``shared/tools/real_check.py`` builds it: image pixels are ``"global"``, transcripts in microns from the
    image corner.

    Parameters
    ----------
    multiscale
        Build image and labels as 5-level pyramids; if ``False`` single-scale :class:`xarray.DataArray` elements.

    Returns
    -------
    SpatialData
        Element names in :data:`COSMX_KEYS`:

        - image ``image``: ``(1, 648, 672)``, channel ``DAPI``, uint8, ``Identity`` to ``"global"``.
        - points ``transcripts``: ``x, y`` in microns (``tx_x * 0.18``, ``tx_y * 0.18``), ``target`` (categorical
          gene, feature key; CosMx's column name), ``cell_ID`` (int64 vendor cell per transcript, 0 = none; the
          instance key, equal to the label under the transcript for ~99% of them); ``Scale(1 / 0.18)`` to
          ``"global"``.
        - labels ``vendor_cells``: int32 vendor cells (``gt_labels``), ``Identity`` to ``"global"``.

    Raises
    ------
    FileNotFoundError
        If the shared folder or the npz is missing.
    """
    import pandas as pd
    from spatialdata import SpatialData
    from spatialdata.models import PointsModel

    from ..io import microns_to_pixels

    start = time.perf_counter()
    npz_path = _require(shared_data_dir() / _COSMX_FILE)
    npz = _read_npz(npz_path, ("dapi", "um_per_px", "tx_x", "tx_y", "tx_gene", "genes", "vendor_cell", "gt_labels"))
    um_per_px = float(npz["um_per_px"])
    frame = pd.DataFrame(
        {
            "x": npz["tx_x"].astype(np.float64) * um_per_px,
            "y": npz["tx_y"].astype(np.float64) * um_per_px,
            "target": pd.Categorical.from_codes(npz["tx_gene"], categories=npz["genes"].astype(str)),
            "cell_ID": npz["vendor_cell"].astype(np.int64),
        }
    )
    points = PointsModel.parse(
        frame,
        coordinates={"x": "x", "y": "y"},
        feature_key="target",
        instance_key="cell_ID",
        transformations={"global": microns_to_pixels(um_per_px)},
    )
    sdata = SpatialData(
        images={COSMX_KEYS["image"]: image_element(npz["dapi"][np.newaxis], ["DAPI"], multiscale=multiscale)},
        points={COSMX_KEYS["points"]: points},
        labels={COSMX_KEYS["labels"]: _labels_element(npz["gt_labels"], multiscale=multiscale)},
    )
    _log_built("CosMx lung crop", start, COSMX_KEYS, npz, um_per_px)
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
        ``{"pos": ..., "neg": ...}`` from ``sc_breast_markers_pos.csv`` / ``_neg.csv``: boolean DataFrames (cell
        type x panel gene, 15 x 313), or with ``as_lists`` dicts ``{cell_type: [gene, ...]}`` (cell types with no
        marker map to an empty list).

    Raises
    ------
    FileNotFoundError
        If the shared folder or a marker file is missing.
    """
    import pandas as pd

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
        ``sc_breast.csv``: one row per (cell type, atlas) profile, the panel genes as columns plus ``ct_idx``,
        ``cell_type`` and ``atlas``.

    Raises
    ------
    FileNotFoundError
        If the shared folder or the file is missing.
    """
    import pandas as pd

    return pd.read_csv(_require(shared_data_dir() / XENIUM_RAW_DIR / "sc_breast.csv"), index_col=0)


def _read_npz(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    with np.load(path) as npz:
        missing = [n for n in names if n not in npz.files]
        if missing:
            msg = f"{path} lacks the array(s) {missing} (has {sorted(npz.files)}); see {path.parent}/README.md."
            raise FileNotFoundError(msg)
        return {n: npz[n] for n in names}


def _labels_element(labels: np.ndarray, *, multiscale: bool):
    from spatialdata.models import Labels2DModel
    from spatialdata.transformations import Identity

    return Labels2DModel.parse(
        labels.astype(np.int32, copy=False),
        dims=("y", "x"),
        transformations={"global": Identity()},
        **raster_options(multiscale, _LABELS_CHUNKS),
    )


def _log_built(name: str, start: float, keys: dict[str, str], npz: dict[str, np.ndarray], um_per_px: float) -> None:
    labels = npz["gt_labels"]
    logger.info(
        "Built %s in %.2f s: image %r %s %s, points %r with %d transcripts, %d genes, labels %r with %d cells, "
        "%.4f um/px.",
        name,
        time.perf_counter() - start,
        keys["image"],
        npz["dapi"].shape,
        npz["dapi"].dtype,
        keys["points"],
        npz["tx_x"].size,
        npz["genes"].size,
        keys["labels"],
        np.unique(labels[labels != 0]).size,
        um_per_px,
    )
