"""What a segmentation writes, and reading it back: the one place that names halo's outputs.

``halo.tl.segment(sdata, key_added=K)`` writes the shapes ``K_boundaries`` and ``K_nuclei``, the table ``K_table``
(cells x genes, linked to the boundaries by :data:`REGION_KEY` and :data:`INSTANCE_KEY`) and the column
``K_cell_id`` of the transcripts; the table's ``uns["halo"]`` records how they were made. The writer, the plots, the
command line and the metrics all go through :class:`SegmentationNames` and :func:`read_segmentation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from spatialdata import SpatialData

REGION_KEY = "region"
"""Column of the table's ``obs`` naming the shapes element each cell is drawn in."""
INSTANCE_KEY = "cell_id"
"""Column of the table's ``obs`` (and index name of the shapes) holding each cell's id, ``1..n``."""
PROVENANCE_KEY = "halo"
"""Key of the table's ``uns`` that records the run: parameters, element names, versions, timings and counts."""
UNASSIGNED = 0
"""Cell id of a transcript that lies in no cell (or was dropped as a control or of low quality)."""


class SegmentationWarning(UserWarning):
    """An input or a result that looks wrong: the warning gives the numbers and the likely fix.

    Silence one kind with ``warnings.filterwarnings("ignore", "<start of its message>", SegmentationWarning)``.
    """


@dataclass(frozen=True)
class SegmentationNames:
    """The names of what one segmentation wrote (or will write) under ``key_added``."""

    key_added: str
    boundaries: str
    """Shapes: one polygon per cell, indexed by cell id."""
    nuclei: str
    """Shapes: the nucleus of each cell that has one, indexed by its cell's id."""
    table: str
    """Table: cells x genes counts, annotating ``boundaries``."""
    assignment_column: str
    """Column of the transcripts holding each transcript's cell id (:data:`UNASSIGNED` for none)."""
    points: str | None = None
    """The transcripts element that holds ``assignment_column`` (known once the inputs are resolved)."""

    @classmethod
    def of(cls, key_added: str, points: str | None = None) -> SegmentationNames:
        """The names for ``key_added``."""
        return cls(
            key_added=key_added,
            boundaries=f"{key_added}_boundaries",
            nuclei=f"{key_added}_nuclei",
            table=f"{key_added}_table",
            assignment_column=f"{key_added}_cell_id",
            points=points,
        )

    def elements(self) -> dict[str, str]:
        """The element names as the provenance keeps them (``uns["halo"]["elements"]``)."""
        return {
            "boundaries": self.boundaries,
            "nuclei": self.nuclei,
            "table": self.table,
            "assignment_column": self.assignment_column,
        }


@dataclass(frozen=True)
class Segmentation(SegmentationNames):
    """A segmentation found in a SpatialData object: its names, the inputs it used and its recorded parameters."""

    image_key: str = ""
    channel: str | int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    """The run's parameters as recorded (``None`` where it was None)."""
    summary: Mapping[str, Any] = field(default_factory=dict)
    """The run's counts as recorded (e.g. ``n_kept``, ``n_assigned``); empty for results written before halo 0.2."""

    @property
    def points_key(self) -> str:
        """The transcripts element (same as ``points``)."""
        return self.points


def written_by_halo(table, names: SegmentationNames) -> bool:
    """Whether ``table`` is the table of a halo segmentation with exactly these names."""
    record = table.uns.get(PROVENANCE_KEY)
    if not isinstance(record, Mapping):
        return False
    elements = record.get("elements", {})
    return all(elements.get(key) == value for key, value in names.elements().items())


def segmentations(sdata: SpatialData) -> list[str]:
    """The ``key_added`` of every halo segmentation in ``sdata``, sorted."""
    found = []
    for name, table in sdata.tables.items():
        if name.endswith("_table") and written_by_halo(table, SegmentationNames.of(name[: -len("_table")])):
            found.append(name[: -len("_table")])
    return sorted(found)


def read_segmentation(sdata: SpatialData, key_added: str = "halo") -> Segmentation:
    """Find the segmentation written under ``key_added``, with a clear error when there is none.

    Parameters
    ----------
    sdata
        A SpatialData object segmented by :func:`halo.tl.segment`.
    key_added
        The segmentation's ``key_added``.

    Returns
    -------
    Its :class:`Segmentation`: element names, the image, channel and transcripts it used, and its parameters.
    """
    names = SegmentationNames.of(key_added)
    table = sdata.tables.get(names.table)
    if table is None or not written_by_halo(table, names):
        msg = (
            f"No halo segmentation under key_added={key_added!r} (no table {names.table!r} written by halo); "
            f"segmentations present: {segmentations(sdata)}. Run halo.tl.segment(sdata, key_added={key_added!r}) "
            "first."
        )
        raise KeyError(msg)
    record = table.uns[PROVENANCE_KEY]
    params = {k: _none(v) for k, v in record["params"].items()}
    channel = params["channel"]
    return Segmentation(
        **names.elements(),
        key_added=key_added,
        points=params["points_key"],
        image_key=params["image_key"],
        channel=int(channel) if isinstance(channel, (int, np.integer)) else str(channel),
        params=params,
        summary=dict(record.get("summary", {})),
    )


def assigned_counts(sdata: SpatialData, seg: Segmentation) -> tuple[int, int]:
    """``(assigned, kept)``: halo's one meaning of "assigned transcripts".

    *Kept* transcripts are those the segmentation counts: not a control probe, not below its ``min_qv``, and on the
    nuclear image; *assigned* ones are the kept transcripts that lie in a cell. Both are read from the run's record
    (``uns["halo"]["summary"]``), never from the table's ``X``, which scanpy may have normalised; results written
    before that record existed are counted from the raw counts and the transcripts.
    """
    if "n_kept" in seg.summary:
        return int(seg.summary["n_assigned"]), int(seg.summary["n_kept"])
    from ._elements import affine_between, pyramid_levels
    from ._transcripts import load_transcripts

    table = sdata.tables[seg.table]
    counts = table.layers["counts"] if "counts" in table.layers else table.X
    transcripts = load_transcripts(
        sdata, seg.points_key, affine_between(sdata, seg.points_key, seg.image_key),
        control_pattern=seg.params.get("control_pattern"), min_qv=seg.params.get("min_qv"),
    )  # fmt: skip
    full = pyramid_levels(sdata.images[seg.image_key])[0]
    x, y = np.floor(transcripts.x), np.floor(transcripts.y)
    on_image = (x >= 0) & (x < full.sizes["x"]) & (y >= 0) & (y < full.sizes["y"])
    return int(counts.sum()), int((transcripts.kept & on_image).sum())


def _none(value):
    """``None`` as the provenance stores it (AnnData cannot write ``None``)."""
    return None if isinstance(value, str) and value == "None" else value


def provenance_value(value):
    """A parameter as the provenance stores it: ``None`` as ``"None"`` (AnnData cannot write ``None``)."""
    return "None" if value is None else value
