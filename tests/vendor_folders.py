"""Write tiny vendor output folders that the spatialdata-io readers accept.

Test helpers only (not part of the ``halo`` package). They let tests run ``halo`` on a
SpatialData object made by the *vendor reader* itself, rather than on one assembled by hand,
so that element names, dtypes and coordinate transformations are exactly those users get.

Xenium
------
:func:`write_xenium_folder` writes the smallest XOA 2.x-style folder that
``spatialdata_io.xenium`` (checked against spatialdata-io 0.7.1) reads when called as::

    spatialdata_io.xenium(path, **XENIUM_READER_KWARGS)

i.e. with every cell-segmentation element switched off (see :data:`XENIUM_READER_KWARGS`).
The folder contains

- ``experiment.xenium``: JSON specs; the reader needs ``pixel_size`` (microns per pixel, used
  for the ``Scale`` from microns to pixels) and ``analysis_sw_version`` (``xenium-2.0.0.10``, so
  that the v2 image layout below is used and the channel is named ``DAPI``).
- ``cells.zarr.zip``: a zipped zarr v2 group holding only an empty ``cell_id`` array of shape
  ``(0, 2)``. The 0.7.1 reader opens this file unconditionally, whatever options are passed,
  and for versions >= 1.3.0 reads ``cell_id`` from it.
- ``morphology_focus/morphology_focus_0000.ome.tif``: the DAPI image, a single-plane uint16
  OME-TIFF with ``PhysicalSizeX/Y`` and channel name ``DAPI`` (the reader ignores both: pixel
  size comes from ``experiment.xenium`` and channel names from the file count).
- ``transcripts.parquet``: the XOA 2.x columns ``transcript_id, cell_id, overlaps_nucleus,
  feature_name, x_location, y_location, z_location, qv, fov_name, nucleus_distance`` (microns),
  plus any extra input columns, plus a few control-probe transcripts (``NegControlProbe_*``,
  ``NegControlCodeword_*``, ``UnassignedCodeword_*``, ``BLANK_*``), as real runs have them.

No ``cell_feature_matrix.h5``, ``cells.parquet`` or boundary parquet files are written, so
the reader's defaults (``cells_table=True``, ``cells_boundaries=True``, ...) fail on this
folder with a ``FileNotFoundError`` / ``KeyError``.

MERSCOPE and CosMx
------------------
:func:`write_merscope_folder` writes a region folder for ``spatialdata_io.merscope(path)`` (mosaic TIFFs, the
micron-to-mosaic transform and ``detected_transcripts.csv``); :func:`write_cosmx_folder` writes a flat-file
export for ``spatialdata_io.cosmx(path)`` (counts, metadata, FOV positions, transcripts, ``CellComposite`` and
``CellLabels`` per FOV). Both are called with the reader's default arguments; see their docstrings for the files.
Read a CosMx folder with :func:`read_cosmx`, which works around a bug of spatialdata-io 0.7.1 with anndata 0.13.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "COSMX_CONTROL_FEATURES",
    "COSMX_DAPI_CHANNEL",
    "MERSCOPE_CONTROL_FEATURES",
    "XENIUM_CONTROL_FEATURES",
    "XENIUM_READER_KWARGS",
    "XENIUM_SW_VERSION",
    "read_cosmx",
    "write_cosmx_folder",
    "write_merscope_folder",
    "write_xenium_folder",
]

#: Keyword arguments of ``spatialdata_io.xenium`` for which a :func:`write_xenium_folder` folder suffices.
XENIUM_READER_KWARGS: dict[str, bool] = {
    "cells_boundaries": False,
    "nucleus_boundaries": False,
    "cells_as_circles": False,
    "cells_labels": False,
    "nucleus_labels": False,
    "cells_table": False,
    "morphology_mip": False,
    "aligned_images": False,
}

#: ``analysis_sw_version`` written to ``experiment.xenium`` (XOA 2.0 layout: ``morphology_focus/`` folder).
XENIUM_SW_VERSION = "xenium-2.0.0.10"

#: Control features as 10x names them in ``transcripts.parquet`` (XOA 1.x panels use ``BLANK_*``,
#: 2.x+ ``UnassignedCodeword_*``; both are listed so that control filters see every family).
XENIUM_CONTROL_FEATURES: tuple[str, ...] = (
    "NegControlProbe_00042",
    "NegControlProbe_ERCC-00002",
    "NegControlCodeword_0500",
    "UnassignedCodeword_0001",
    "BLANK_0006",
)

_REQUIRED_COLUMNS = ("x_location", "y_location", "feature_name")
_UNASSIGNED_STR = "UNASSIGNED"


def write_xenium_folder(
    path: str | Path,
    *,
    dapi: np.ndarray,
    transcripts: pd.DataFrame,
    um_per_px: float = 0.2125,
    n_control_transcripts: int = 10,
    control_features: Sequence[str] = XENIUM_CONTROL_FEATURES,
    seed: int = 0,
    sw_version: str = XENIUM_SW_VERSION,
) -> Path:
    """Write a minimal Xenium output folder readable by ``spatialdata_io.xenium``.

    The folder is meant for ``spatialdata_io.xenium(path, **XENIUM_READER_KWARGS)``, which
    returns a SpatialData with the image ``morphology_focus`` (multiscale, one channel
    ``DAPI``, Identity to ``"global"`` = pixel space) and the points ``transcripts`` (microns,
    ``Scale([1/um_per_px] * 2)`` to ``"global"``). See the module docstring for the files.

    Parameters
    ----------
    path
        Folder to create (parents included). Existing files of the same names are overwritten.
    dapi
        2-D nuclear image, ``(y, x)``. Cast to uint16 (values must fit).
    transcripts
        One row per transcript with ``x_location``, ``y_location`` (microns; pixel col =
        ``x_location / um_per_px``) and ``feature_name``. Optional columns, filled when absent:
        ``z_location`` (0.0), ``qv`` (40.0), ``cell_id`` (``"UNASSIGNED"``), ``overlaps_nucleus``
        (0), ``transcript_id`` (running number), ``fov_name`` (``"A1"``), ``nucleus_distance``
        (0.0). Any other column is written as is.
    um_per_px
        Pixel size in microns, written to ``experiment.xenium`` and the OME-TIFF.
    n_control_transcripts
        Number of control-probe transcripts appended, at uniform random positions over the
        image, cycling through ``control_features``. Their ``cell_id`` is ``"UNASSIGNED"`` (or
        ``-1`` when ``cell_id`` is an integer column) and ``overlaps_nucleus`` is 0.
    control_features
        Names of the control features used for the appended transcripts.
    seed
        Seed of the random positions, ``z`` and ``qv`` of the control transcripts.
    sw_version
        ``analysis_sw_version``; must parse as XOA >= 2.0 for the ``morphology_focus/`` layout.

    Returns
    -------
    Path
        The folder written.

    Raises
    ------
    ValueError
        If ``dapi`` is not 2-D or does not fit uint16, a required column is missing, or
        ``n_control_transcripts`` is negative.
    """
    path = Path(path)
    dapi = np.asarray(dapi)
    if dapi.ndim != 2:
        raise ValueError(f"`dapi` must be 2-D (y, x); got shape {dapi.shape}.")
    if dapi.size and (dapi.min() < 0 or dapi.max() > np.iinfo(np.uint16).max):
        raise ValueError("`dapi` values must fit in uint16.")
    missing = [c for c in _REQUIRED_COLUMNS if c not in transcripts.columns]
    if missing:
        raise ValueError(f"`transcripts` lacks required column(s) {missing}; has {list(transcripts.columns)}.")
    if n_control_transcripts < 0:
        raise ValueError(f"`n_control_transcripts` must be >= 0; got {n_control_transcripts}.")
    if n_control_transcripts and not control_features:
        raise ValueError("`control_features` is empty but `n_control_transcripts` > 0.")

    path.mkdir(parents=True, exist_ok=True)
    dapi = dapi.astype(np.uint16, copy=False)

    _write_experiment_json(path, dapi.shape, um_per_px, sw_version)
    _write_empty_cells_zarr(path / "cells.zarr.zip")
    _write_morphology_focus(path / "morphology_focus" / "morphology_focus_0000.ome.tif", dapi, um_per_px)
    table = _xenium_transcripts_table(
        transcripts,
        shape=dapi.shape,
        um_per_px=um_per_px,
        n_controls=n_control_transcripts,
        control_features=control_features,
        seed=seed,
    )
    table.to_parquet(path / "transcripts.parquet", index=False)
    logger.info(
        "Wrote Xenium folder %s: DAPI %s, %d transcripts (%d controls), %.4f um/px.",
        path,
        dapi.shape,
        len(table),
        n_control_transcripts,
        um_per_px,
    )
    return path


def _write_experiment_json(path: Path, shape: tuple[int, int], um_per_px: float, sw_version: str) -> None:
    """Write ``experiment.xenium`` with the keys of a real XOA 2.x run (values made up)."""
    specs: dict[str, Any] = {
        "major_version": 5,
        "minor_version": 0,
        "patch_version": 0,
        "run_name": "halo_test_run",
        "run_start_time": "2024-01-01T00:00:00Z",
        "region_name": "halo_test_region",
        "preservation_method": "ffpe",
        "num_cells": 0,
        "transcripts_per_cell": 0,
        "transcripts_per_100um": 0.0,
        "cassette_name": "halo_test_cassette",
        "slide_id": "0000000",
        "panel_design_file": "halo_test_panel.json",
        "panel_name": "halo test panel",
        "panel_organism": "Human",
        "panel_num_targets_predesigned": 0,
        "panel_num_targets_custom": 0,
        "pixel_size": float(um_per_px),
        "instrument_sn": "0000",
        "instrument_sw_version": "2.0.0.0",
        "analysis_sw_version": sw_version,
        "experiment_uuid": "00000000-0000-0000-0000-000000000000",
        "cassette_uuid": "00000000-0000-0000-0000-000000000000",
        "roi_uuid": "00000000-0000-0000-0000-000000000000",
        "z_step_size": 3.0,
        "well_uuid": "",
        "calibration_uuid": "",
        "images": {
            "morphology_filepath": "morphology.ome.tif",
            "morphology_focus_filepath": "morphology_focus/morphology_focus_0000.ome.tif",
        },
        "morphology_focus_shape_yx": [int(shape[0]), int(shape[1])],
    }
    (path / "experiment.xenium").write_text(json.dumps(specs, indent=2))


def _write_empty_cells_zarr(zip_path: Path) -> None:
    """Write ``cells.zarr.zip``: a zarr v2 group with an empty ``cell_id`` (0, 2) uint32 array."""
    import zarr

    if zip_path.exists():
        zip_path.unlink()
    store = zarr.storage.ZipStore(zip_path, mode="w")
    try:
        # create_group (not open_group(mode="w")) writes each key once: a zip cannot overwrite.
        group = zarr.create_group(store, zarr_format=2, attributes={"major_version": 5, "minor_version": 0})
        group.create_array("cell_id", shape=(0, 2), dtype="uint32", chunks=(1, 2))
    finally:
        store.close()


def _write_morphology_focus(tif_path: Path, dapi: np.ndarray, um_per_px: float) -> None:
    """Write a single-plane uint16 OME-TIFF with pixel size and channel name."""
    import tifffile

    tif_path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        tif_path,
        dapi,
        ome=True,
        photometric="minisblack",
        metadata={
            "axes": "YX",
            "PhysicalSizeX": float(um_per_px),
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": float(um_per_px),
            "PhysicalSizeYUnit": "µm",
            "Channel": {"Name": ["DAPI"]},
        },
    )


def _xenium_transcripts_table(
    transcripts: pd.DataFrame,
    *,
    shape: tuple[int, int],
    um_per_px: float,
    n_controls: int,
    control_features: Sequence[str],
    seed: int,
) -> pd.DataFrame:
    """Return ``transcripts`` with XOA 2.x columns and dtypes, control-probe rows appended."""
    df = transcripts.reset_index(drop=True).copy()
    n = len(df)
    int_cell_ids = "cell_id" in df.columns and pd.api.types.is_integer_dtype(df["cell_id"])
    defaults: dict[str, Any] = {
        "z_location": 0.0,
        "qv": 40.0,
        "cell_id": _UNASSIGNED_STR,
        "overlaps_nucleus": 0,
        "fov_name": "A1",
        "nucleus_distance": 0.0,
    }
    for col, value in defaults.items():
        if col not in df.columns:
            df[col] = value
    if "transcript_id" not in df.columns:
        df["transcript_id"] = np.arange(n, dtype=np.uint64)
    df["feature_name"] = df["feature_name"].astype(str)

    if n_controls:
        rng = np.random.default_rng(seed)
        height, width = shape
        z = df["z_location"].to_numpy(dtype=float)
        z_lo, z_hi = (float(z.min()), float(z.max())) if n else (0.0, 0.0)
        start_id = int(df["transcript_id"].max()) + 1 if n else 0
        controls = pd.DataFrame(
            {
                "transcript_id": np.arange(start_id, start_id + n_controls, dtype=np.uint64),
                "cell_id": -1 if int_cell_ids else _UNASSIGNED_STR,
                "overlaps_nucleus": 0,
                "feature_name": [control_features[i % len(control_features)] for i in range(n_controls)],
                "x_location": rng.uniform(0, width * um_per_px, n_controls),
                "y_location": rng.uniform(0, height * um_per_px, n_controls),
                "z_location": rng.uniform(z_lo, z_hi, n_controls) if z_hi > z_lo else z_lo,
                "qv": rng.uniform(20.0, 40.0, n_controls),
                "fov_name": "A1",
                "nucleus_distance": 0.0,
            }
        )
        df = pd.concat([df, controls], ignore_index=True)

    dtypes = {
        "transcript_id": np.uint64,
        "overlaps_nucleus": np.uint8,
        "x_location": np.float32,
        "y_location": np.float32,
        "z_location": np.float32,
        "qv": np.float32,
        "nucleus_distance": np.float32,
    }
    df = df.astype(dtypes)
    if not int_cell_ids:
        df["cell_id"] = df["cell_id"].astype(str)
    first = [
        "transcript_id",
        "cell_id",
        "overlaps_nucleus",
        "feature_name",
        "x_location",
        "y_location",
        "z_location",
        "qv",
        "fov_name",
        "nucleus_distance",
    ]
    return df[first + [c for c in df.columns if c not in first]]


# ---------------------------------------------------------------------------------------------------------------------
# MERSCOPE
# ---------------------------------------------------------------------------------------------------------------------

#: Blank barcodes as Vizgen names them in ``detected_transcripts.csv``.
MERSCOPE_CONTROL_FEATURES: tuple[str, ...] = ("Blank-1", "Blank-7", "Blank-23")


def write_merscope_folder(
    path: str | Path,
    *,
    dapi: np.ndarray,
    transcripts: pd.DataFrame,
    um_per_px: float = 0.108,
    origin_um: tuple[float, float] = (0.0, 0.0),
    z_layer: int = 3,
    other_stains: Sequence[str] = ("PolyT", "Cellbound1"),
    n_control_transcripts: int = 10,
    seed: int = 0,
) -> Path:
    """Write a minimal MERSCOPE region folder readable by ``spatialdata_io.merscope(path)`` (default arguments).

    ``path`` is the region folder (e.g. ``.../202401011200_slide1_VMSC00001/region_0``); the reader names elements
    after it and its parent: ``{slide}_{region}``. It contains

    - ``images/mosaic_{stain}_z{z_layer}.tif``: uint16 single-plane TIFFs, ``DAPI`` (the given image) and the
      ``other_stains`` (smooth noise), which the reader stacks into the image ``{slide}_{region}_z{z_layer}``;
    - ``images/micron_to_mosaic_pixel_transform.csv``: the 3x3 affine micron -> mosaic pixel (space separated),
      here ``pixel = (micron - origin_um) / um_per_px``;
    - ``detected_transcripts.csv``: Vizgen's columns (unnamed index, ``barcode_id, global_x, global_y, global_z,
      x, y, fov, gene, transcript_id, cell_id``), microns, plus ``n_control_transcripts`` ``Blank-*`` rows.

    No ``cell_by_gene.csv``, ``cell_metadata.csv`` or ``cell_boundaries.parquet``: the reader warns and reads no
    table or polygons.

    Parameters
    ----------
    path
        Region folder to create (parents included).
    dapi
        2-D nuclear image ``(y, x)``; cast to uint16.
    transcripts
        ``global_x``, ``global_y`` (microns) and ``gene``; ``global_z`` is filled with 3.0 when absent.
    um_per_px
        Mosaic pixel size in microns.
    origin_um
        Micron position of mosaic pixel (0, 0).
    z_layer
        The z index in the image file names (the reader reads ``z_layers=3`` by default).
    other_stains
        Further channels written next to DAPI.
    n_control_transcripts
        ``Blank-*`` transcripts appended at random positions over the image.
    seed
        Seed of the control positions and the other stains.

    Returns
    -------
    The folder written.
    """
    import tifffile

    path = Path(path)
    dapi = np.asarray(dapi)
    if dapi.ndim != 2:
        raise ValueError(f"`dapi` must be 2-D (y, x); got shape {dapi.shape}.")
    missing = [c for c in ("global_x", "global_y", "gene") if c not in transcripts.columns]
    if missing:
        raise ValueError(f"`transcripts` lacks column(s) {missing}; has {list(transcripts.columns)}.")
    images = path / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tifffile.imwrite(images / f"mosaic_DAPI_z{z_layer}.tif", dapi.astype(np.uint16), photometric="minisblack")
    for stain in other_stains:
        noise = rng.integers(100, 2000, dapi.shape, dtype=np.uint16)
        tifffile.imwrite(images / f"mosaic_{stain}_z{z_layer}.tif", noise, photometric="minisblack")
    scale = 1.0 / um_per_px
    matrix = np.array([[scale, 0, -origin_um[0] * scale], [0, scale, -origin_um[1] * scale], [0, 0, 1]])
    np.savetxt(images / "micron_to_mosaic_pixel_transform.csv", matrix, delimiter=" ")

    df = transcripts.reset_index(drop=True).copy()
    df["gene"] = df["gene"].astype(str)
    if n_control_transcripts:
        height, width = dapi.shape
        controls = pd.DataFrame(
            {
                "global_x": origin_um[0] + rng.uniform(0, width * um_per_px, n_control_transcripts),
                "global_y": origin_um[1] + rng.uniform(0, height * um_per_px, n_control_transcripts),
                "gene": [
                    MERSCOPE_CONTROL_FEATURES[i % len(MERSCOPE_CONTROL_FEATURES)] for i in range(n_control_transcripts)
                ],
            }
        )
        df = pd.concat([df, controls], ignore_index=True)
    n = len(df)
    genes = pd.Index(sorted(df["gene"].unique()))
    table = pd.DataFrame(
        {
            "barcode_id": genes.get_indexer(df["gene"]),
            "global_x": df["global_x"].astype(np.float64),
            "global_y": df["global_y"].astype(np.float64),
            "global_z": df["global_z"].astype(np.float64) if "global_z" in df else 3.0,
            # fov-local pixel positions; the reader drops them in favour of global_x/y
            "x": ((df["global_x"] - origin_um[0]) / um_per_px) % 2048,
            "y": ((df["global_y"] - origin_um[1]) / um_per_px) % 2048,
            "fov": 0,
            "gene": df["gene"],
            "transcript_id": [f"ENSMUST{i:011d}" for i in range(n)],
            "cell_id": -1,
        }
    )
    table.to_csv(path / "detected_transcripts.csv")
    logger.info("Wrote MERSCOPE folder %s: DAPI %s, %d transcripts.", path, dapi.shape, n)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# CosMx
# ---------------------------------------------------------------------------------------------------------------------

#: Control targets as NanoString names them in ``*_tx_file.csv``.
COSMX_CONTROL_FEATURES: tuple[str, ...] = ("NegPrb1", "NegPrb5", "SystemControl12", "FalseCode3")

#: Channel of the nuclear stain in the RGB ``CellComposite`` images written here (blue, as in CosMx composites).
COSMX_DAPI_CHANNEL = 2


def read_cosmx(path: str | Path):
    """``spatialdata_io.cosmx(path)``, also where that reader fails on the installed anndata.

    spatialdata-io 0.7.1's reader builds its table with ``AnnData(X, dtype=...)``, a keyword that anndata 0.13
    removed (a ``TypeError``): the Python 3.12 CI leg has both. Where ``AnnData`` takes no ``dtype``, the reader is
    given, for this call only, an ``AnnData`` that casts ``X`` to that dtype first, as older anndata did: the object
    read is the one the reader makes with anndata 0.12. Elsewhere the reader runs untouched.
    """
    import inspect
    from unittest import mock

    import anndata
    import spatialdata_io
    from spatialdata_io.readers import cosmx as reader

    if "dtype" in inspect.signature(anndata.AnnData.__init__).parameters:
        return spatialdata_io.cosmx(path)

    def anndata_with_dtype(X=None, *args, dtype=None, **kwargs):  # noqa: N803 - AnnData's own name
        return anndata.AnnData(X if X is None or dtype is None else X.astype(dtype), *args, **kwargs)

    with mock.patch.object(reader, "AnnData", anndata_with_dtype):
        return spatialdata_io.cosmx(path)


def write_cosmx_folder(
    path: str | Path,
    *,
    fovs: dict[int, dict[str, Any]],
    dataset_id: str = "halo_test",
    n_control_transcripts: int = 10,
    seed: int = 0,
) -> Path:
    """Write a minimal CosMx flat-file export readable by ``spatialdata_io.cosmx(path)`` (default arguments).

    Every FOV gets an image ``{fov}_image`` (RGB composite, nuclear stain in channel
    :data:`COSMX_DAPI_CHANNEL`), labels ``{fov}_labels`` and points ``{fov}_points`` (local pixels, Identity to the
    FOV's coordinate system ``"{fov}"``, an affine fitted on the cell centres to ``"global"``). Files:

    - ``{dataset_id}_exprMat_file.csv``: ``fov, cell_ID`` and one column per target (counts of each cell);
    - ``{dataset_id}_metadata_file.csv``: ``fov, cell_ID, CenterX_local_px, CenterY_local_px, CenterX_global_px,
      CenterY_global_px`` (the reader fits local -> global from these, so each FOV needs three cells or more);
    - ``{dataset_id}_fov_positions_file.csv``: ``fov, x_global_px, y_global_px`` (only its existence is checked);
    - ``{dataset_id}_tx_file.csv``: ``fov, cell_ID, x_local_px, y_local_px, x_global_px, y_global_px, z, target,
      CellComp``, plus ``n_control_transcripts`` control rows per FOV;
    - ``CellComposite/CellComposite_F{fov:03d}.tif`` and ``CellLabels/CellLabels_F{fov:03d}.tif``, stored upside
      down as the reader flips them vertically (so that row ``r`` of the element is ``y_local_px = r``).

    Parameters
    ----------
    path
        Folder to create.
    fovs
        Per FOV number: ``dapi`` (2-D image, row ``r`` at ``y_local_px = r``), ``labels`` (2-D cell labels of the
        same shape, 0 = background), ``transcripts`` (``x_local_px``, ``y_local_px``, ``target``; optional
        ``cell_ID``, 0 = none) and ``offset_px`` (``(x, y)`` global pixel position of the FOV's corner).
    dataset_id
        Prefix of the file names.
    n_control_transcripts
        Control transcripts appended per FOV at random positions.
    seed
        Seed of the control positions.

    Returns
    -------
    The folder written.
    """
    import tifffile

    path = Path(path)
    (path / "CellComposite").mkdir(parents=True, exist_ok=True)
    (path / "CellLabels").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tx_frames, meta_frames, count_frames, positions = [], [], [], []
    for fov, spec in fovs.items():
        dapi, labels = np.asarray(spec["dapi"]), np.asarray(spec["labels"])
        if dapi.shape != labels.shape or dapi.ndim != 2:
            raise ValueError(
                f"FOV {fov}: `dapi` and `labels` must be 2-D of one shape; got {dapi.shape}, {labels.shape}."
            )
        ox, oy = spec["offset_px"]
        composite = np.zeros((*dapi.shape, 3), dtype=np.uint8)
        composite[..., COSMX_DAPI_CHANNEL] = np.clip(dapi / max(float(dapi.max()), 1.0) * 255, 0, 255).astype(np.uint8)
        composite[..., 0] = rng.integers(0, 60, dapi.shape, dtype=np.uint8)  # a dim membrane-like stain
        tifffile.imwrite(path / "CellComposite" / f"CellComposite_F{fov:03d}.tif", composite[::-1], photometric="rgb")
        tifffile.imwrite(path / "CellLabels" / f"CellLabels_F{fov:03d}.tif", labels[::-1].astype(np.uint32))

        tx = spec["transcripts"].reset_index(drop=True).copy()
        tx["target"] = tx["target"].astype(str)
        if "cell_ID" not in tx:
            tx["cell_ID"] = 0
        if n_control_transcripts:
            height, width = dapi.shape
            controls = pd.DataFrame(
                {
                    "x_local_px": rng.uniform(0, width, n_control_transcripts),
                    "y_local_px": rng.uniform(0, height, n_control_transcripts),
                    "target": [
                        COSMX_CONTROL_FEATURES[i % len(COSMX_CONTROL_FEATURES)] for i in range(n_control_transcripts)
                    ],
                    "cell_ID": 0,
                }
            )
            tx = pd.concat([tx, controls], ignore_index=True)
        tx_frames.append(
            pd.DataFrame(
                {
                    "fov": fov,
                    "cell_ID": tx["cell_ID"].astype(np.int64),
                    "x_local_px": tx["x_local_px"].astype(np.float64),
                    "y_local_px": tx["y_local_px"].astype(np.float64),
                    "x_global_px": tx["x_local_px"] + ox,
                    "y_global_px": tx["y_local_px"] + oy,
                    "z": 0,
                    "target": tx["target"],
                    "CellComp": "Nuclear",
                }
            )
        )
        ids, centre_x, centre_y = _label_centres(labels)
        meta_frames.append(
            pd.DataFrame(
                {
                    "fov": fov,
                    "cell_ID": ids,
                    "CenterX_local_px": centre_x,
                    "CenterY_local_px": centre_y,
                    "CenterX_global_px": centre_x + ox,
                    "CenterY_global_px": centre_y + oy,
                }
            )
        )
        assigned = tx[tx["cell_ID"] > 0]
        counts = pd.crosstab(assigned["cell_ID"], assigned["target"]).reindex(ids, fill_value=0)
        counts.insert(0, "fov", fov)
        count_frames.append(counts.rename_axis("cell_ID").reset_index())
        positions.append({"fov": fov, "x_global_px": ox, "y_global_px": oy})

    prefix = path / dataset_id
    pd.concat(count_frames, ignore_index=True).fillna(0).to_csv(f"{prefix}_exprMat_file.csv", index=False)
    pd.concat(meta_frames, ignore_index=True).to_csv(f"{prefix}_metadata_file.csv", index=False)
    pd.DataFrame(positions).to_csv(f"{prefix}_fov_positions_file.csv", index=False)
    pd.concat(tx_frames, ignore_index=True).to_csv(f"{prefix}_tx_file.csv", index=False)
    logger.info("Wrote CosMx folder %s: %d FOVs.", path, len(fovs))
    return path


def _label_centres(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids and (x, y) centres of the cells of a label image, pixel i spanning [i, i + 1)."""
    from scipy import ndimage

    ids = np.unique(labels[labels > 0])
    centres = np.asarray(ndimage.center_of_mass(np.ones_like(labels), labels, ids)).reshape(-1, 2) + 0.5
    return ids.astype(np.int64), centres[:, 1], centres[:, 0]
