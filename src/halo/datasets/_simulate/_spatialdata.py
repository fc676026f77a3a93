"""``simulate``: a simulated field as a SpatialData laid out like the vendor readers lay out real runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._platforms import platform_settings
from ._tissue import Tissue, simulate_tissue

#: Element names per platform, as spatialdata-io names them for a real run.
ELEMENT_NAMES = {
    "xenium": {"image": "morphology_focus", "points": "transcripts"},
    "merscope": {"image": "simulated_z3", "points": "simulated_transcripts"},
    "cosmx": {"image": "1_image", "points": "1_points"},
}
#: Micron position of pixel corner (0, 0): Xenium's global frame is a pure scale of microns, the others are offset.
ORIGINS_UM = {"xenium": (0.0, 0.0), "merscope": (-1523.4, 2871.15), "cosmx": (9120.0, 4302.6)}


def simulate(
    tissue: str = "mixed",
    *,
    size_um: float | tuple[float, float] = (250.0, 250.0),
    seed: int = 0,
    platform: str = "xenium",
    um_per_px: float | None = None,
    n_genes: int | None = None,
    bit_depth: int | None = None,
):
    """Simulate a field of tissue as a :class:`~spatialdata.SpatialData` shaped like a vendor reader's output.

    The object holds (names per platform in :data:`ELEMENT_NAMES`):

    - the nuclear image (channel ``"DAPI"``, ``uint16`` or ``uint8``; ``"global"`` is its pixel space),
    - the transcripts in micrometres with the platform's columns (Xenium ``feature_name`` and ``qv`` with a
      ``Scale`` to pixels, MERSCOPE ``gene`` with an ``Affine``, CosMx ``target`` with a translation and scale)
      plus ``true_cell_id`` (0 = not made by a cell in the section) and ``true_diffused`` (drifted out of its cell),
    - labels ``"true_cells"`` and ``"true_nuclei"`` (a nucleus carries its cell's id),
    - shapes ``"true_cell_boundaries"`` (index ``cell_id``, column ``cell_type``) and ``"true_nucleus_boundaries"``
      (a MultiPolygon for a cell with several nuclei; cells without a nucleus in the section have none). A field
      too small to hold a cell (or a nucleus) has no such shapes element.

    Parameters are those of :func:`simulate_tissue`.

    Returns
    -------
    The simulated field as a SpatialData.
    """
    result = simulate_tissue(
        tissue,
        size_um=size_um,
        seed=seed,
        platform=platform,
        um_per_px=um_per_px,
        n_genes=n_genes,
        bit_depth=bit_depth,
    )
    return tissue_to_spatialdata(result, seed=seed)


def tissue_to_spatialdata(
    tissue: Tissue,
    *,
    seed: int = 0,
    origin_um: tuple[float, float] | None = None,
    image_key: str | None = None,
):
    """Wrap a :class:`Tissue` into a SpatialData as :func:`simulate` describes.

    ``origin_um`` (the micron position of pixel corner (0, 0)) and ``image_key`` default to the platform's
    (:data:`ORIGINS_UM`, :data:`ELEMENT_NAMES`).
    """
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, Labels2DModel, PointsModel, ShapesModel

    names = {**ELEMENT_NAMES[tissue.platform], **({"image": image_key} if image_key else {})}
    origin = ORIGINS_UM[tissue.platform] if origin_um is None else tuple(origin_um)
    pixels = {"global": _identity()}
    points = PointsModel.parse(
        _points_frame(tissue, seed, origin),
        coordinates={"x": "x", "y": "y"},
        feature_key=platform_settings(tissue.platform).feature_key,
        transformations={"global": _microns_to_pixels(tissue.platform, tissue.um_per_px, origin)},
    )
    cells, nuclei = _shapes(tissue)
    return SpatialData(
        images={
            names["image"]: Image2DModel.parse(
                tissue.dapi[None],
                dims=("c", "y", "x"),
                c_coords=["DAPI"],
                transformations=pixels,
                chunks=(1, 2048, 2048),
            )
        },
        labels={
            "true_cells": Labels2DModel.parse(tissue.cells, dims=("y", "x"), transformations=pixels),
            "true_nuclei": Labels2DModel.parse(tissue.nuclei, dims=("y", "x"), transformations=pixels),
        },
        points={names["points"]: points},
        # spatialdata cannot hold an empty shapes element: a field without cells (or nuclei) has none
        shapes={
            key: ShapesModel.parse(frame, transformations=pixels)
            for key, frame in (("true_cell_boundaries", cells), ("true_nucleus_boundaries", nuclei))
            if len(frame)
        },
    )


def _identity():
    from spatialdata.transformations import Identity

    return Identity()


def _microns_to_pixels(platform: str, um_per_px: float, origin_um: tuple[float, float]):
    from ...io import microns_to_pixels

    return microns_to_pixels(um_per_px, origin_um, as_affine=platform == "merscope")


def _points_frame(tissue: Tissue, seed: int, origin_um: tuple[float, float]) -> pd.DataFrame:
    """Transcripts in micrometres with the platform's column names."""
    ox, oy = origin_um
    frame = pd.DataFrame(
        {
            "x": tissue.tx_x.astype(np.float64) * tissue.um_per_px + ox,
            "y": tissue.tx_y.astype(np.float64) * tissue.um_per_px + oy,
            platform_settings(tissue.platform).feature_key: pd.Categorical.from_codes(
                tissue.tx_gene, categories=tissue.genes
            ),
        }
    )
    if tissue.platform == "xenium":
        # Phred-like quality: most reads pass the usual qv >= 20 filter, a few do not
        rng = np.random.default_rng([seed, 20])
        n = len(frame)
        frame["qv"] = np.where(rng.random(n) < 0.05, rng.uniform(5, 20, n), rng.uniform(20, 40, n)).astype(np.float32)
    frame["true_cell_id"] = tissue.tx_cell.astype(np.int64)
    frame["true_diffused"] = tissue.tx_diffused
    return frame


def _shapes(tissue: Tissue):
    import geopandas as gpd

    from halo._geometry import labels_to_polygons

    ids = np.arange(1, tissue.n_cells + 1)
    cell_polys = labels_to_polygons(tissue.cells)
    types = pd.Categorical.from_codes(tissue.cell_type, categories=tissue.cell_type_names)
    cells = gpd.GeoDataFrame(
        {"cell_type": types}, geometry=[cell_polys[int(i)] for i in ids], index=pd.Index(ids, name="cell_id")
    )
    nucleus_polys = labels_to_polygons(tissue.nuclei)
    kept = np.array(sorted(nucleus_polys), dtype=np.int64)
    nuclei = gpd.GeoDataFrame(geometry=[nucleus_polys[int(i)] for i in kept], index=pd.Index(kept, name="cell_id"))
    return cells, nuclei
