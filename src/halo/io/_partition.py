"""Transcripts partitioned by tile on disk: read once, part by part, then handed to each tile from a memory map.

A whole slide has hundreds of millions of transcripts: holding them (and a sort of them) in memory would grow with the
slide. Instead the points element is streamed one partition at a time; each partition's kept transcripts are sorted
by the tile core that holds them and appended to flat files in a scratch folder, with the position of every
(partition, tile) run recorded. A tile then reads its runs back through memory maps, so the driver never holds more
than one partition, and each worker only the tiles it is working on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._tiling import Box, tile_of_points
from ._transcripts import TranscriptFilter

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

_FIELDS = {"rows": np.int64, "x": np.float64, "y": np.float64, "gene": np.int32}


@dataclass
class PartitionedTranscripts:
    """The kept transcripts on the slide, by tile core, in ``directory``.

    Rows are positions in the points element; ``x`` and ``y`` are image pixels; ``gene`` indexes ``genes``.
    """

    directory: str
    genes: list[str]
    n_total: int
    """Rows of the points element."""
    runs: np.ndarray
    """``(n_partitions, n_tiles + 1)`` start of each tile's run of each partition in the flat files."""
    n_cols: int
    core_px: int
    part_offsets: np.ndarray
    """First row of each partition of the points element, and the number of rows at the end."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Transcripts dropped as control, low quality, invalid or off the image."""

    @property
    def n_kept(self) -> int:
        """Transcripts on the image that take part in segmentation and counting."""
        return int(self.runs[:, -1].sum() - self.runs[:, 0].sum())

    def _read(self, name: str) -> np.ndarray:
        path = Path(self.directory) / f"{name}.bin"
        if path.stat().st_size == 0:
            return np.zeros(0, _FIELDS[name])
        return np.memmap(path, dtype=_FIELDS[name], mode="r")

    def tiles(self, indices: list[int], box: Box | None = None) -> dict[str, np.ndarray]:
        """``rows``, ``x``, ``y``, ``gene`` of the transcripts in these tile cores (and in ``box``), in row order.

        Row order does not depend on how the points element is partitioned, so neither do sums over them.
        """
        spans = [(a, b) for t in indices for a, b in zip(self.runs[:, t], self.runs[:, t + 1], strict=True) if b > a]
        data = {name: self._read(name) for name in _FIELDS}
        parts = {name: [] for name in _FIELDS}
        for a, b in spans:  # filtered run by run, so that only what is kept is ever copied whole
            x, y = np.asarray(data["x"][a:b]), np.asarray(data["y"][a:b])
            keep = slice(None) if box is None else (x >= box.x0) & (x < box.x1) & (y >= box.y0) & (y < box.y1)
            parts["x"].append(x[keep])
            parts["y"].append(y[keep])
            parts["rows"].append(np.asarray(data["rows"][a:b])[keep])
            parts["gene"].append(np.asarray(data["gene"][a:b])[keep])
        out = {name: np.concatenate(v) if v else np.zeros(0, _FIELDS[name]) for name, v in parts.items()}
        order = np.argsort(out["rows"], kind="stable")
        return {name: values[order] for name, values in out.items()}

    def in_box(self, box: Box) -> dict[str, np.ndarray]:
        """:meth:`tiles` for the transcripts in ``box``, gathered from the tile cores it meets."""
        n_rows = (self.runs.shape[1] - 1) // self.n_cols
        c = self.core_px
        indices = [
            r * self.n_cols + col
            for r in range(box.y0 // c, min(-(-box.y1 // c), n_rows))
            for col in range(box.x0 // c, min(-(-box.x1 // c), self.n_cols))
        ]
        return self.tiles(indices, box)


def partition_transcripts(
    points,
    keep: TranscriptFilter,
    directory: str | Path,
    *,
    slide_shape: tuple[int, int],
    core_px: int,
    on_part: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    progress: bool = False,
) -> PartitionedTranscripts:
    """Stream ``points`` partition by partition into per-tile runs under ``directory``.

    Parameters
    ----------
    points
        The (lazy) points element.
    keep
        Which transcripts to keep and how to map them into pixels.
    directory
        Existing empty folder for the flat files.
    slide_shape, core_px
        The tile grid (cores of ``core_px`` from the slide's corner).
    on_part
        Called with ``(x, y, gene)`` of each partition's kept transcripts on the image, e.g. to gather statistics.
    progress
        Show a progress bar over the partitions.
    """
    import dask

    directory = Path(directory)
    height, width = slide_shape
    n_cols = -(-width // core_px)
    n_tiles = -(-height // core_px) * n_cols
    parts = points[keep.columns].to_delayed()
    handles = {name: open(directory / f"{name}.bin", "wb") for name in _FIELDS}  # noqa: SIM115
    runs = np.zeros((len(parts), n_tiles + 1), np.int64)
    dropped = {"control": 0, "low_quality": 0, "invalid": 0, "outside": 0}
    written, first_row = 0, 0
    part_offsets = [0]
    try:
        for number, frame in enumerate(_progress(parts, progress)):
            (frame,) = dask.compute(frame)
            x, y, gene, counts = keep.apply(frame)
            tile = tile_of_points(x, y, slide_shape, core_px)
            dropped["outside"] += int(((tile < 0) & (gene >= 0)).sum())
            for name, count in counts.items():
                dropped[name] += count
            chosen = np.flatnonzero((gene >= 0) & (tile >= 0))
            chosen = chosen[np.argsort(tile[chosen], kind="stable")]
            if on_part is not None:
                on_part(x[chosen], y[chosen], gene[chosen])
            columns = {"rows": chosen + first_row, "x": x[chosen], "y": y[chosen], "gene": gene[chosen]}
            for name, values in columns.items():
                handles[name].write(np.ascontiguousarray(values, dtype=_FIELDS[name]).tobytes())
            runs[number] = written + np.searchsorted(tile[chosen], np.arange(n_tiles + 1))
            written += chosen.size
            first_row += len(frame)
            part_offsets.append(first_row)
    finally:
        for handle in handles.values():
            handle.close()
    logger.info(
        "%d transcripts, %d kept on the image in %d tiles; dropped %s",
        first_row, written, n_tiles, ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in dropped.items()),
    )  # fmt: skip
    return PartitionedTranscripts(
        directory=str(directory), genes=keep.genes, n_total=first_row, runs=runs, n_cols=n_cols, core_px=core_px,
        part_offsets=np.asarray(part_offsets, np.int64), dropped=dropped,
    )  # fmt: skip


def _progress(parts: list, progress: bool):
    if not progress:
        return parts
    from tqdm.auto import tqdm

    return tqdm(parts, desc="halo transcripts", leave=False, unit="partition")
