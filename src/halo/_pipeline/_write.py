"""Step 4 of a segmentation: build the elements (shapes, table, transcript assignment) and write them."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import io as hio
from ..io import INSTANCE_KEY, PROVENANCE_KEY, REGION_KEY, provenance_value
from ._options import SegmentOptions
from ._plan import Plan
from ._resolve import Inputs
from ._run import Outcome
from ._stitch import Stitched

if TYPE_CHECKING:
    from spatialdata import SpatialData


def write_results(
    sdata: SpatialData, inputs: Inputs, plan: Plan, outcome: Outcome, options: SegmentOptions
) -> hio.SegmentationNames:
    """Write shapes, table and assignment into ``sdata`` (all or nothing, see :mod:`halo.io`); return their names."""
    names, stitched, transcripts = inputs.names, outcome.stitched, plan.transcripts
    uns = provenance(inputs, plan, outcome, options)
    assignment = outcome.assignment
    if not hio.is_backed(sdata):  # the column must outlive the scratch folder
        assignment = np.fromfile(assignment, np.int32)
    elements = {
        names.boundaries: cell_shapes(stitched, inputs.image.transformations),
        names.nuclei: nucleus_shapes(stitched, inputs.image.transformations),
        names.points: points_with_assignment(
            sdata.points[names.points],
            assignment,
            transcripts.part_offsets,
            names.assignment_column,
            genes=(inputs.transcripts.feature_key, inputs.transcripts.categories),
        ),  # fmt: skip
        # built last, once the points are written: its copy of the counts is not in memory while dask writes
        names.table: lambda: cell_table(stitched, transcripts.genes, inputs.grid.um_per_px, names.boundaries, uns),
    }
    hio.write_elements(sdata, elements)
    return names


def provenance(inputs: Inputs, plan: Plan, outcome: Outcome, options: SegmentOptions) -> dict[str, Any]:
    """The table's ``uns["halo"]``: parameters, element names, versions, timings and counts, in writable types."""
    from importlib.metadata import version

    from .. import __version__

    params = {
        "method": options.method, "image_key": inputs.image.key, "channel": inputs.image.channel,
        "points_key": inputs.points_key, "nuclei_key": options.nuclei_key, "expansion_um": options.expansion_um,
        "max_reach_um": options.max_reach_um, "nuclei_source": plan.source.name,
        "weights": str(options.weights or "halo_v1"), "tile_um": options.tile_um, "overlap_um": plan.overlap_um,
        "control_pattern": inputs.control_pattern, "min_qv": options.min_qv, "um_per_px": inputs.grid.um_per_px,
        "n_tiles": len(plan.tiles),
    }  # fmt: skip
    versions = {pkg: version(pkg) for pkg in ("spatialdata", "anndata", "numpy", "scikit-image", "dask")}
    versions["halo"] = __version__
    transcripts = plan.transcripts
    return {
        "params": {k: provenance_value(v) for k, v in params.items()},
        "nucleus_options": {k: provenance_value(v) for k, v in asdict(options.nucleus_options).items()},
        "elements": inputs.names.elements(),
        "versions": versions,
        "timings": {**plan.seconds, **outcome.seconds},
        "summary": {
            "n_cells": outcome.stitched.n_cells,
            "n_transcripts": transcripts.n_total,
            "n_kept": transcripts.n_kept,
            "n_assigned": outcome.n_assigned,
            **{f"n_dropped_{reason}": n for reason, n in transcripts.dropped.items()},
        },
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
    table.uns[PROVENANCE_KEY] = uns
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
