"""Writing a large shapes element's GeoParquet file a slice of rows at a time.

geopandas encodes the whole geometry column to WKB and then copies it into Arrow before writing: for the 270,000
cells of a gigapixel slide that is ~0.6 GB on top of the polygons themselves. Written slice by slice (one row group
each), the file holds the same rows, types and GeoParquet metadata (bounding box and geometry types of the whole
column), and only one slice is ever encoded at a time. spatialdata still writes the element's zarr group and
attributes; halo then replaces its parquet file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import geopandas as gpd
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

ROWS_PER_GROUP = 8_192
"""Rows encoded at a time (~6 MB of WKB for cells on the 0.425 um grid): the encoded copies stay small."""


def write_shapes_in_row_groups(sdata: SpatialData, name: str, shapes: gpd.GeoDataFrame) -> None:
    """Write ``shapes`` as the shapes element ``name`` of the backed ``sdata``, encoding a slice of rows at a time.

    Falls back to spatialdata's own writer where the layout or encoding is not the one this knows (GeoParquet with
    WKB geometries in ``shapes/<name>/shapes.parquet``), so the result is always what spatialdata would read.
    """
    from spatialdata.config import settings

    if not _sliceable(shapes) or settings.shapes_geometry_encoding != "WKB" or not _geopandas_knows_how():
        _write_whole(sdata, name, shapes)
        return
    sdata[name] = shapes.iloc[:1]  # spatialdata writes the group, its attributes and a one-row file
    sdata.write_element(name)
    path = Path(sdata.path) / "shapes" / name / "shapes.parquet"
    if not path.is_file():
        logger.debug("no %s after spatialdata's write: writing %r in one go", path, name)
        del sdata[name]
        _write_whole(sdata, name, shapes, overwrite=True)
        return
    write_geoparquet(_without_transformations(shapes), path)
    sdata[name] = shapes


def _sliceable(shapes) -> bool:
    """Tell whether slices of ``shapes`` encode to one schema, and there are more rows than one slice.

    That is a geometry column alone, indexed by values (a ``RangeIndex`` is stored as each slice's own range).
    """
    import pandas as pd

    only_geometry = list(shapes.columns) == [shapes.geometry.name]
    return len(shapes) > ROWS_PER_GROUP and only_geometry and not isinstance(shapes.index, pd.RangeIndex)


def _geopandas_knows_how() -> bool:
    """Whether geopandas still has the (private) helpers its ``to_parquet`` builds the table and metadata with."""
    try:
        from geopandas.io.arrow import _create_metadata, _geopandas_to_arrow  # noqa: F401
    except ImportError:
        return False
    return True


def _without_transformations(shapes):
    """Copy (shallow) without the transformations, which spatialdata keeps in the zarr attributes, not the file."""
    try:
        from spatialdata.models._utils import TRANSFORM_KEY
    except ImportError:  # the key spatialdata has always used
        TRANSFORM_KEY = "transform"  # noqa: N806

    bare = shapes.copy(deep=False)
    bare.attrs = {key: value for key, value in shapes.attrs.items() if key != TRANSFORM_KEY}
    return bare


def _write_whole(sdata: SpatialData, name: str, shapes, *, overwrite: bool = False) -> None:
    if overwrite:
        import shutil

        shutil.rmtree(Path(sdata.path) / "shapes" / name)
    sdata[name] = shapes
    sdata.write_element(name)


def write_geoparquet(shapes: gpd.GeoDataFrame, path: str | Path, *, rows_per_group: int | None = None) -> None:
    """Write what ``shapes.to_parquet(path)`` writes (WKB geometries), encoding ``rows_per_group`` rows at a time.

    Parameters
    ----------
    shapes
        The frame to write; its index is written as geopandas writes it.
    path
        The file, replaced.
    rows_per_group
        Rows per parquet row group, the most that is encoded at once; :data:`ROWS_PER_GROUP` when ``None``.
    """
    import pyarrow.parquet as pq
    from geopandas.io.arrow import _create_metadata, _geopandas_to_arrow

    rows_per_group = rows_per_group or ROWS_PER_GROUP
    geo = json.dumps(_create_metadata(shapes)).encode()  # bounding box and types of the whole column
    writer = None
    try:
        for start in range(0, max(len(shapes), 1), rows_per_group):
            table = _geopandas_to_arrow(shapes.iloc[start : start + rows_per_group])
            table = table.replace_schema_metadata({**table.schema.metadata, b"geo": geo})
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=rows_per_group)
            del table
    finally:
        if writer is not None:
            writer.close()
