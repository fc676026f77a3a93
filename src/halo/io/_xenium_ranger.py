"""A segmentation written as ``xeniumranger import-segmentation`` reads it, to open it in Xenium Explorer.

Xenium Ranger re-runs the Xenium analysis (counts, clustering, the Explorer bundle) on a segmentation from outside.
Its documented inputs (10x Genomics, Xenium Ranger "Segmentation inputs") include, for ``--nuclei`` and ``--cells``:

- a labeled mask in TIFF (32-bit) or NumPy NPY format, of the morphology image's size, each pixel the integer id
  of its cell (0: none);
- polygons as a GeoJSON ``FeatureCollection`` whose features have ``objectType`` ``"cell"``, the cell as
  ``geometry`` and, QuPath's way, the nucleus as ``nucleusGeometry``; one file can serve both arguments.

Both are in the pixels of the Xenium morphology image (Xenium Ranger's default ``--units=pixels``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._elements import affine_between, pyramid_levels
from ._segmentation import read_segmentation

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

MASK_TILE_PX = 4096
"""Side of the blocks the masks are drawn in: memory stays bounded on a whole slide."""


@dataclass(frozen=True)
class XeniumRangerFiles:
    """What :func:`write_xenium_ranger` wrote."""

    cells_mask: Path | None
    nuclei_mask: Path | None
    """uint32 NPY label masks of the morphology image's size (cell id per pixel, 0 for none)."""
    geojson: Path | None
    """FeatureCollection of the cells with their nuclei (``nucleusGeometry``)."""

    def command(self, bundle: str | Path, *, run_id: str = "halo", masks: bool = True) -> str:
        """The ``xeniumranger import-segmentation`` command for the Xenium output folder ``bundle``."""
        nuclei, cells = (self.nuclei_mask, self.cells_mask) if masks else (self.geojson, self.geojson)
        if nuclei is None or cells is None:
            msg = f"No {'masks' if masks else 'GeoJSON'} were written; pass masks={not masks}."
            raise ValueError(msg)
        return (
            f"xeniumranger import-segmentation --id={run_id} --xenium-bundle={bundle} "
            f"--nuclei={nuclei} --cells={cells}" + ("" if masks else " --units=pixels")
        )


def write_xenium_ranger(
    sdata: SpatialData,
    folder: str | Path,
    *,
    key_added: str = "halo",
    image_key: str | None = None,
    masks: bool = True,
    geojson: bool = True,
) -> XeniumRangerFiles:
    """Write a segmentation for ``xeniumranger import-segmentation`` (and so for Xenium Explorer).

    Parameters
    ----------
    sdata
        SpatialData segmented by :func:`halo.tl.segment`.
    folder
        Folder to write into (created if needed): ``cells.npy`` and ``nuclei.npy`` (masks) and
        ``cells.geojson`` (polygons).
    key_added
        The segmentation's ``key_added``.
    image_key
        The Xenium morphology image whose pixels the files are in: ``morphology_focus`` when the object has it
        (as ``spatialdata_io.xenium`` reads it), else the image the segmentation used.
    masks, geojson
        Which of the two documented forms to write.

    Returns
    -------
    The paths written; ``.command(bundle)`` gives the command line that imports them.
    """
    seg = read_segmentation(sdata, key_added)
    if image_key is None:
        image_key = "morphology_focus" if "morphology_focus" in sdata.images else seg.image_key
    if image_key not in sdata.images:
        msg = f"No image element {image_key!r} to take the morphology image's pixels from; pass `image_key=`."
        raise KeyError(msg)
    full = pyramid_levels(sdata.images[image_key])[0]
    shape = (int(full.sizes["y"]), int(full.sizes["x"]))
    matrix = affine_between(sdata, seg.boundaries, image_key)
    cells = _in_pixels(sdata.shapes[seg.boundaries], matrix)
    nuclei = _in_pixels(sdata.shapes[seg.nuclei], affine_between(sdata, seg.nuclei, image_key))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {"cells_mask": None, "nuclei_mask": None, "geojson": None}
    if masks:
        written["cells_mask"] = _write_mask(folder / "cells.npy", cells, shape)
        written["nuclei_mask"] = _write_mask(folder / "nuclei.npy", nuclei, shape)
    if geojson:
        written["geojson"] = _write_geojson(folder / "cells.geojson", cells, nuclei)
    files = XeniumRangerFiles(**written)
    logger.info("wrote %s; import with: %s", folder, files.command("<xenium output folder>", masks=masks))
    return files


def _in_pixels(gdf, matrix: np.ndarray):
    """The shapes' geometries (a GeoSeries indexed by cell id) mapped by ``matrix``."""
    if np.allclose(matrix, np.eye(3)):
        return gdf.geometry
    coefficients = [matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]]
    return gdf.geometry.affine_transform(coefficients)


def _write_mask(path: Path, geometries, shape: tuple[int, int]) -> Path:
    """A uint32 NPY label mask (pixel-centre rule), drawn block by block into a memory-mapped file."""
    import shapely
    from affine import Affine
    from rasterio.features import rasterize

    from .._geometry import RASTERIO_LOCK

    ids = np.asarray(geometries.index, dtype=np.int64)
    if ids.size and (ids.min() < 1 or ids.max() >= 2**32):
        msg = f"Cell ids must lie in 1..2**32-1 for a uint32 mask, got {ids.min()}..{ids.max()}."
        raise ValueError(msg)
    values = np.asarray(geometries, dtype=object)
    tree = shapely.STRtree(values)
    mask = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=shape)
    for y0 in range(0, shape[0], MASK_TILE_PX):
        for x0 in range(0, shape[1], MASK_TILE_PX):
            y1, x1 = min(y0 + MASK_TILE_PX, shape[0]), min(x0 + MASK_TILE_PX, shape[1])
            hits = tree.query(shapely.box(x0, y0, x1, y1))
            if hits.size == 0:
                continue
            with RASTERIO_LOCK:
                mask[y0:y1, x0:x1] = rasterize(
                    zip(values[hits], ids[hits].astype(np.uint32), strict=True), out_shape=(y1 - y0, x1 - x0),
                    transform=Affine.translation(x0, y0), fill=0, dtype="uint32",
                )  # fmt: skip
    mask.flush()
    del mask
    return path


def _write_geojson(path: Path, cells, nuclei) -> Path:
    """One Feature per cell (``objectType`` ``"cell"``), its nucleus as ``nucleusGeometry`` (QuPath's layout)."""
    import shapely

    nucleus_of = dict(zip(nuclei.index, nuclei, strict=True))
    with path.open("w") as handle:
        handle.write('{"type": "FeatureCollection", "features": [\n')
        for i, (cell_id, geometry) in enumerate(zip(cells.index, cells, strict=True)):
            feature = {
                "type": "Feature",
                "id": str(cell_id),
                "geometry": json.loads(shapely.to_geojson(geometry)),
                "properties": {"objectType": "cell", "cell_id": int(cell_id)},
            }
            if cell_id in nucleus_of:
                feature["nucleusGeometry"] = json.loads(shapely.to_geojson(nucleus_of[cell_id]))
            handle.write(("," if i else "") + json.dumps(feature) + "\n")
        handle.write("]}\n")
    return path
