"""Writing results back into a SpatialData object without ever losing what the user had.

Everything is computed before anything is written. In memory, elements are swapped in at the end. On a zarr-backed
object the write is a small transaction, recorded in a journal file at the store's root:

1. *staging*: every new element is written under a temporary name (``<name>_halo_tmp``) with spatialdata's own
   writer; the elements the user has are not touched, and an element only appears in the store's consolidated
   metadata once it is complete.
2. *swapping*: each old element directory is moved aside (one ``rename``) and the staged one is renamed into its
   place (one ``rename``); then the consolidated metadata is rewritten and the old copies are deleted.

A run killed while staging leaves the previous results intact (the staged leftovers are removed by the next run);
a run killed while swapping has already written every new element in full, and :func:`recover_interrupted_write`
(called by the next :func:`halo.tl.segment`, or by hand) finishes the swap. Either way the store holds one complete,
consistent set of results, never a mix.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._memory import release_freed_memory, released_during_dask
from ._shapes_parquet import write_shapes_in_row_groups

if TYPE_CHECKING:
    from spatialdata import SpatialData

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_TMP_SUFFIX = "_halo_tmp"
JOURNAL = "halo_write.json"
"""File at the store's root that records an unfinished write (not a zarr node, so readers ignore it)."""
_TRASH = "halo_trash"
_KINDS = ("images", "labels", "points", "shapes", "tables")
_LAZY_KINDS = ("images", "labels", "points")


def check_key_added(key_added: str) -> None:
    """Element names allow letters, digits, ``_``, ``.`` and ``-``."""
    if not isinstance(key_added, str) or not _NAME.match(key_added):
        msg = f"key_added={key_added!r} is not a valid element name; use letters, digits, '_', '.' and '-'."
        raise ValueError(msg)


def element_kind(sdata: SpatialData, name: str) -> str | None:
    """``"images"``, ``"labels"``, ``"points"``, ``"shapes"`` or ``"tables"`` holding ``name`` (case-insensitive)."""
    for kind in _KINDS:
        for existing in getattr(sdata, kind):
            if existing.lower() == name.lower():
                return kind
    return None


def check_writable(sdata: SpatialData, planned: dict[str, str]) -> None:
    """Fail before any work when a planned name is taken by another element type, or the store is read-only.

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
    if is_backed(sdata):
        _check_store_writable(Path(sdata.path))


def _check_store_writable(root: Path) -> None:
    """Try to create a file in the store: permission bits alone say nothing for root or read-only mounts."""
    probe = root / ".halo_write_probe"
    try:
        if not os.access(root, os.W_OK):
            raise PermissionError(root)
        probe.touch()
        probe.unlink()
    except OSError as error:
        msg = (
            f"The zarr store {root} is not writable ({error.__class__.__name__}), so halo cannot save its results "
            "there. Copy the store somewhere writable, or read it into memory (e.g. sdata = sdata.subset(...) or "
            "spatialdata.read_zarr then write it to a new path) and run again."
        )
        raise PermissionError(msg) from error


def is_backed(sdata: SpatialData) -> bool:
    """Whether ``sdata`` is stored in a zarr store that halo writes into."""
    return bool(sdata.is_backed() and sdata.path is not None)


def write_elements(sdata: SpatialData, elements: dict[str, Any]) -> None:
    """Put ``elements`` into ``sdata``, replacing same-named ones; persist them when ``sdata`` is backed.

    On a backed object the write is all-or-nothing across ``elements`` (see the module docstring). An element may be
    given as a function that builds it: on a backed object it is then built only when its turn to be written comes,
    after the ones before it have been written (so that the writer's copies of those and it are not in memory at
    once).
    """
    if not is_backed(sdata):
        built = {name: element() if callable(element) else element for name, element in elements.items()}
        for name, element in built.items():  # all built first: a failure leaves the object as it was
            sdata[name] = element
        return
    root = Path(sdata.path)
    if not sdata.has_consolidated_metadata():  # readers must only see elements listed once complete
        sdata.write_consolidated_metadata()
    recover_interrupted_write(sdata)
    kinds = {}
    _write_journal(root, "staging", {})
    for name, element in elements.items():
        tmp = name + _TMP_SUFFIX
        element = element() if callable(element) else element
        sdata[tmp] = element
        kinds[name] = element_kind(sdata, tmp)
        _write_journal(root, "staging", kinds)  # before the write, so that a partial copy is found and removed
        if kinds[name] == "shapes":
            write_shapes_in_row_groups(sdata, tmp, element)
        else:
            with released_during_dask(), tables_written_unsharded():
                sdata.write_element(tmp)
        release_freed_memory()  # the encoded copy is gone: give its pages back before the next element
        if kinds[name] in _LAZY_KINDS:  # the new element may read lazily from the old files: read its own copy
            _reload(sdata, tmp, kinds[name])
    _write_journal(root, "swapping", kinds)
    for name, kind in kinds.items():
        _swap_on_disk(root, name, kind)
        _consolidate(sdata, root)  # between swaps the store reads as a mix of complete old and new elements
    _finish(sdata, root, kinds)
    logger.info("wrote %s to %s", list(kinds), root)


@contextmanager
def tables_written_unsharded() -> Iterator[None]:
    """Write tables as anndata does by default, without the warning it gives for every array of a table.

    anndata 0.12 warns "zarr v3 autosharding will be the default in the next minor release" for each array it
    writes while its ``auto_shard_zarr_v3`` setting is unset: a dozen lines for one table in the user's notebook.
    Unset means unsharded today, so halo sets it to that for its own writes; a choice the user made is kept, and so
    is anndata 0.13's default (sharded, ``True``), which gives no warning.
    """
    import anndata as ad

    if getattr(ad.settings, "auto_shard_zarr_v3", False) is not None:
        yield
        return
    with ad.settings.override(auto_shard_zarr_v3=False):
        yield


def recover_interrupted_write(sdata: SpatialData | str | os.PathLike) -> str | None:
    """Finish or undo a write of halo's that was interrupted (killed, power loss), leaving one complete set of results.

    A write killed while staging is undone (the previous results were never touched); one killed while swapping is
    finished (every new element had been written in full). Stray temporary elements are removed.

    Parameters
    ----------
    sdata
        A zarr-backed SpatialData, or the path of its store (use the path when the store cannot be read).

    Returns
    -------
    ``"finished"``, ``"undone"``, or ``None`` when there was nothing to recover.
    """
    from spatialdata import SpatialData

    in_memory = sdata if isinstance(sdata, SpatialData) else None
    if in_memory is not None and not is_backed(in_memory):
        return None
    root = Path(in_memory.path if in_memory is not None else sdata)
    journal = _read_journal(root)
    leftovers = _staged_on_disk(root)
    if journal is None and not leftovers and not (root / _TRASH).exists():
        return None
    swapped = {}
    if journal is not None and journal["phase"] == "swapping":
        swapped = journal["elements"]
        for name, kind in swapped.items():
            _swap_on_disk(root, name, kind)
            _consolidate(in_memory, root)
        outcome = "finished"
    else:
        for kind, tmp in leftovers:
            if in_memory is not None and tmp in in_memory:
                del in_memory[tmp]
            shutil.rmtree(root / kind / tmp)
        outcome = "undone"
    if in_memory is not None:
        for tmp in [name for name in _all_names(in_memory) if name.endswith(_TMP_SUFFIX)]:
            del in_memory[tmp]
    _finish(in_memory, root, swapped)
    logger.warning("recovered an interrupted halo write in %s: %s", root, outcome)
    return outcome


def _swap_on_disk(root: Path, name: str, kind: str) -> None:
    """Move the staged copy into ``name``'s place; safe to repeat after an interruption at any step."""
    staged, final, aside = root / kind / (name + _TMP_SUFFIX), root / kind / name, root / _TRASH / name
    if not staged.exists():  # already swapped
        return
    if final.exists():
        aside.parent.mkdir(exist_ok=True)
        if aside.exists():
            shutil.rmtree(aside)
        os.rename(final, aside)
    os.rename(staged, final)


def _adopt_in_memory(sdata: SpatialData, name: str, kind: str) -> None:
    """Point the in-memory object at the swapped element (its lazy parts must read the files now at ``name``)."""
    tmp = name + _TMP_SUFFIX
    staged = sdata[tmp] if tmp in sdata else None
    if tmp in sdata:
        del sdata[tmp]
    if kind in _LAZY_KINDS or staged is None:
        _reload(sdata, name, kind)
    else:
        sdata[name] = staged


def _finish(sdata: SpatialData | None, root: Path, swapped: dict[str, str]) -> None:
    """Rewrite the consolidated metadata, update the in-memory object, then drop the journal and the old copies."""
    _consolidate(sdata, root)
    if sdata is not None:
        for name, kind in swapped.items():
            _adopt_in_memory(sdata, name, kind)
    (root / JOURNAL).unlink(missing_ok=True)
    shutil.rmtree(root / _TRASH, ignore_errors=True)


def _consolidate(sdata: SpatialData | None, root: Path) -> None:
    """List the store's complete elements in its consolidated metadata, which is what readers open."""
    if sdata is not None:
        sdata.write_consolidated_metadata()
    else:  # a store that cannot be read into a SpatialData: consolidate the path itself
        import zarr

        zarr.consolidate_metadata(str(root))


def _staged_on_disk(root: Path) -> list[tuple[str, str]]:
    """``(kind, name)`` of every temporary element directory, complete or not."""
    found = []
    for kind in _KINDS:
        folder = root / kind
        if folder.is_dir():
            found += [(kind, p.name) for p in folder.iterdir() if p.name.endswith(_TMP_SUFFIX)]
    return found


def _all_names(sdata: SpatialData) -> list[str]:
    return [name for kind in _KINDS for name in getattr(sdata, kind)]


def _write_journal(root: Path, phase: str, elements: dict[str, str]) -> None:
    """Replace the journal atomically, so that it is always either the old or the new record."""
    partial = root / (JOURNAL + ".partial")
    with open(partial, "w") as handle:
        json.dump({"phase": phase, "elements": elements}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, root / JOURNAL)


def _read_journal(root: Path) -> dict[str, Any] | None:
    try:
        with open(root / JOURNAL) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:  # cannot happen with os.replace, but a hand-edited file must not stop recovery
        return {"phase": "staging", "elements": {}}


def read_store(path: str | os.PathLike, **kwargs: Any) -> SpatialData:
    """``spatialdata.read_zarr`` without ome-zarr's "no parent found" message for every labels element it reads.

    The message is benign (spatialdata's labels have no parent image in ome-zarr's sense), but it floods the user's
    output each time halo reads a store for them.
    """
    from spatialdata import read_zarr

    noisy = logging.getLogger("ome_zarr.reader")
    level = noisy.level
    noisy.setLevel(logging.ERROR)
    try:
        return read_zarr(path, **kwargs)
    finally:
        noisy.setLevel(level)


def _reload(sdata: SpatialData, name: str, kind: str) -> None:
    """Replace the in-memory element by the (lazy) copy on disk."""
    sdata[name] = read_store(sdata.path, selection=(kind,))[name]
