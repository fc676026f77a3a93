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
    "XENIUM_CONTROL_FEATURES",
    "XENIUM_READER_KWARGS",
    "XENIUM_SW_VERSION",
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
