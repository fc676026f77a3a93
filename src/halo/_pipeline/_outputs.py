"""The elements halo writes: cell and nucleus shapes, the cell-by-gene table, and the transcript assignment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._stitch import Stitched

REGION_KEY = "region"
INSTANCE_KEY = "cell_id"


def element_names(key_added: str) -> dict[str, str]:
    """Names of the elements and the points column written for ``key_added``."""
    return {
        "boundaries": f"{key_added}_boundaries",
        "nuclei": f"{key_added}_nuclei",
        "table": f"{key_added}_table",
        "assignment_column": f"{key_added}_cell_id",
    }


def cell_shapes(stitched: Stitched, transformations: dict[str, Any]):
    """Cell polygons in the nuclear image's pixel space, indexed by cell id."""
    import geopandas as gpd
    from spatialdata.models import ShapesModel

    ids = pd.Index(np.arange(1, stitched.n_cells + 1), name=INSTANCE_KEY)
    gdf = gpd.GeoDataFrame(geometry=stitched.cell_polygons, index=ids)
    return ShapesModel.parse(gdf, transformations=transformations)


def nucleus_shapes(stitched: Stitched, transformations: dict[str, Any]):
    """Nucleus polygons of the cells that have one, indexed by their cell's id."""
    import geopandas as gpd
    from spatialdata.models import ShapesModel

    has = np.not_equal(stitched.nucleus_polygons, None)
    ids = pd.Index(np.flatnonzero(has) + 1, name=INSTANCE_KEY)
    gdf = gpd.GeoDataFrame(geometry=stitched.nucleus_polygons[has], index=ids)
    return ShapesModel.parse(gdf, transformations=transformations)


def cell_table(stitched: Stitched, genes: list[str], um_per_px: float, region: str, uns: dict[str, Any]):
    """AnnData of counts with morphology in ``obs`` and centroids in ``obsm["spatial"]``, linked to ``region``."""
    import anndata as ad
    from spatialdata.models import TableModel

    counts = stitched.counts
    n = stitched.n_cells
    area_px = stitched.per_cell["area_px"]
    hull_area = stitched.per_cell["hull_area_px"]
    obs = pd.DataFrame(
        {
            INSTANCE_KEY: np.arange(1, n + 1, dtype=np.int64),
            REGION_KEY: pd.Categorical([region] * n, categories=[region]),
            "area_um2": area_px * um_per_px**2,
            "perimeter_um": stitched.per_cell["perimeter_px"] * um_per_px,
            "elongation": stitched.per_cell["elongation"],
            "solidity": np.divide(area_px, hull_area, out=np.zeros(n), where=hull_area > 0),
            "nucleus_area_um2": stitched.per_cell["nucleus_area_px"] * um_per_px**2,
            "transcript_count": np.asarray(counts.sum(axis=1)).ravel().astype(np.int64),
        },
        index=pd.Index([str(i) for i in range(1, n + 1)]),
    )
    if "confidence" in stitched.per_cell:
        obs["confidence"] = stitched.per_cell["confidence"]
    var = pd.DataFrame(index=pd.Index(genes))
    table = ad.AnnData(X=counts, obs=obs, var=var, layers={"counts": counts.copy()})
    table.obsm["spatial"] = np.column_stack([stitched.per_cell["centroid_x"], stitched.per_cell["centroid_y"]])
    table.uns["halo"] = uns
    return TableModel.parse(table, region=region, region_key=REGION_KEY, instance_key=INSTANCE_KEY)


def points_with_assignment(
    points, assignment: np.ndarray | str, offsets: np.ndarray, column: str, *, genes: tuple[str, pd.Index] | None = None
):
    """The points element with ``column`` holding each transcript's cell id, lazily, partition by partition.

    ``assignment`` is the int32 array of ids, or the path of a file holding it (read partition by partition, so
    that writing the element never holds the whole column); ``offsets`` are the first rows of the partitions, as
    the run read them, and the number of rows at the end. ``genes``: the gene column and every name in it, which
    the run has read already; a categorical gene column gets them as its known categories, so that writing the
    element does not read the whole column once more to learn them.
    """
    if points.npartitions != len(offsets) - 1:
        msg = "Internal error: the points element changed during segmentation."
        raise RuntimeError(msg)
    feature_key, categories = genes if genes is not None else (None, None)
    if feature_key is not None and not isinstance(points._meta[feature_key].dtype, pd.CategoricalDtype):
        feature_key = None

    def add_column(part: pd.DataFrame, partition_info=None) -> pd.DataFrame:
        number = partition_info["number"] if partition_info else 0
        start, stop = offsets[number], offsets[number + 1]
        if len(part) != stop - start:
            msg = "Internal error: a partition of the points element changed length during segmentation."
            raise RuntimeError(msg)
        ids = np.memmap(assignment, np.int32, mode="r") if isinstance(assignment, str) else assignment
        part = part.copy()
        part[column] = np.asarray(ids[start:stop]) if stop > start else np.zeros(0, np.int32)
        if feature_key is not None:
            part[feature_key] = part[feature_key].cat.set_categories(categories)
        return part

    meta = points._meta.copy()
    meta[column] = np.zeros(0, dtype=np.int32)
    if feature_key is not None:
        meta[feature_key] = meta[feature_key].cat.set_categories(categories)
    result = points.map_partitions(add_column, meta=meta)
    result.attrs.update(points.attrs)
    return result
