"""Synthetic tissue, example data and SpatialData objects from files.

- :func:`simulate` (SpatialData) and :func:`simulate_tissue` (numpy :class:`Tissue`) draw realistic fields of one of
  the :data:`ARCHETYPES` with exact ground truth; :func:`synthetic` is a small, fast preset of them for tests and
  the demo; :func:`tiled_slide` writes a whole slide (a gigapixel in minutes) tiled from a few simulated fields, for
  speed and memory measurements.
- :func:`from_files` builds a SpatialData from a vendor's nuclear-image TIFF and transcript table (CSV or parquet),
  laid out as ``spatialdata_io.xenium`` does.
- :func:`xenium_breast_crop`, :func:`merscope_brain_crop` and :func:`cosmx_lung_crop` load the real-data crops of
  the shared data folder (:func:`shared_data_dir`: ``$HALO_SHARED_DATA``, else ``../shared/data`` next to the
  checkout of an editable install; an installed halo needs the environment variable), shaped like the vendor
  readers' output; :func:`breast_markers` and :func:`breast_reference` read the breast panel's single-cell tables.
  They raise :class:`FileNotFoundError` when the data are absent: the crops are not part of halo.
"""

from ._files import from_files
from ._real import (
    COSMX_KEYS,
    MERSCOPE_CROP_ORIGIN_UM,
    SHARED_DATA_ENV_VAR,
    XENIUM_CROP_ORIGIN_UM,
    XENIUM_UM_PER_PX,
    breast_markers,
    breast_reference,
    cosmx_lung_crop,
    merscope_brain_crop,
    merscope_keys,
    shared_data_dir,
    xenium_breast_crop,
)
from ._simulate import ARCHETYPES, PLATFORMS, Tissue, simulate, simulate_tissue
from ._synthetic import synthetic
from ._tiled import tiled_slide

__all__ = [
    "ARCHETYPES",
    "COSMX_KEYS",
    "MERSCOPE_CROP_ORIGIN_UM",
    "PLATFORMS",
    "SHARED_DATA_ENV_VAR",
    "XENIUM_CROP_ORIGIN_UM",
    "XENIUM_UM_PER_PX",
    "Tissue",
    "breast_markers",
    "breast_reference",
    "cosmx_lung_crop",
    "from_files",
    "merscope_brain_crop",
    "merscope_keys",
    "shared_data_dir",
    "simulate",
    "simulate_tissue",
    "synthetic",
    "tiled_slide",
    "xenium_breast_crop",
]
