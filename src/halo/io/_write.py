"""Writing results back into a SpatialData object without ever losing what the user had.

Everything is computed before anything is written. In memory, elements are swapped in at the end. On a zarr-backed
object each element is first written under a temporary name, then the old one is replaced, so that a failure
leaves either the old element or a complete copy of the new one on disk.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_TMP_SUFFIX = "_halo_tmp"


def check_key_added(key_added: str) -> None:
    """Element names allow letters, digits, ``_``, ``.`` and ``-``."""
    if not isinstance(key_added, str) or not _NAME.match(key_added):
        msg = f"key_added={key_added!r} is not a valid element name; use letters, digits, '_', '.' and '-'."
        raise ValueError(msg)


def element_kind(sdata: SpatialData, name: str) -> str | None:
    """``"images"``, ``"labels"``, ``"points"``, ``"shapes"`` or ``"tables"`` holding ``name`` (case-insensitive)."""
    for kind in ("images", "labels", "points", "shapes", "tables"):
        for existing in getattr(sdata, kind):
            if existing.lower() == name.lower():
                return kind
    return None


def check_writable(sdata: SpatialData, planned: dict[str, str]) -> None:
    """Fail before any work when a planned element name is taken by an element of another type.

    Parameters
    ----------
    sdata
        The object to write into.
    planned
        Element name -> element type it will be written as.
    """
    for name, kind in planned.items():
        found = element_kind(sdata, name)
        if found is not None and found != kind:
            msg = (
                f"Cannot write {kind[:-1]} {name!r}: an element of type {found} has that name. "
                "Pass another `key_added=` or rename that element."
            )
            raise ValueError(msg)
    if sdata.is_backed() and sdata.path is not None:
        import os

        if not os.access(sdata.path, os.W_OK):
            msg = f"The zarr store {sdata.path} is not writable; copy it or pass a SpatialData held in memory."
            raise PermissionError(msg)


def write_elements(sdata: SpatialData, elements: dict[str, Any]) -> None:
    """Put ``elements`` into ``sdata``, replacing same-named ones; persist them when ``sdata`` is backed."""
    backed = sdata.is_backed() and sdata.path is not None
    for name, element in elements.items():
        if backed:
            _replace_on_disk(sdata, name, element)
        else:
            sdata[name] = element
    if backed:
        sdata.write_consolidated_metadata()


def _on_disk(sdata: SpatialData, name: str) -> bool:
    return any(path.split("/")[-1] == name for path in sdata.elements_paths_on_disk())


def _replace_on_disk(sdata: SpatialData, name: str, element: Any) -> None:
    """Write ``element`` as ``name`` so that the old ``name`` survives until a full copy of the new one exists."""
    if not _on_disk(sdata, name):
        sdata[name] = element
        sdata.write_element(name)
        _reload(sdata, name)
        return
    tmp = name + _TMP_SUFFIX
    if _on_disk(sdata, tmp):  # left over by a run killed mid-swap, while the old element was still intact
        if tmp in sdata:
            del sdata[tmp]
        sdata.delete_element_from_disk(tmp)
    sdata[tmp] = element
    sdata.write_element(tmp)
    _reload(sdata, tmp)  # the new element may read lazily from the old files: read it back from its own copy
    sdata[name] = sdata[tmp]
    del sdata[tmp]
    sdata.delete_element_from_disk(name)  # from here until the next write the new copy lives on as `tmp`
    sdata.write_element(name)
    _reload(sdata, name)
    sdata.delete_element_from_disk(tmp)
    logger.info("replaced %s on disk", name)


def _reload(sdata: SpatialData, name: str) -> None:
    """Replace the in-memory element by the (lazy) copy on disk."""
    from spatialdata import read_zarr

    kind = element_kind(sdata, name)
    if kind in ("points", "images", "labels"):
        sdata[name] = read_zarr(sdata.path, selection=(kind,))[name]
