"""A tissue layout: where cells, nuclei, lumens and neurites are, in micrometres, before anything is rasterised.

Each cell is a seed with an anisotropic reach (an ellipse or rounded box of semi-axes ``a`` along ``angle`` and
``b`` across it). Pixels go to the cell with the smallest normalised distance, as long as that distance is within
reach, so neighbours meet along curved polygonal borders while sparse cells leave extracellular space between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CELL_FIELDS = ("x", "y", "angle", "a", "b", "power", "rough", "ctype", "free")
NUCLEUS_FIELDS = ("cell", "x", "y", "angle", "a", "b", "bright", "rough")


@dataclass
class Layout:
    """Cells, nuclei, lumens (no cell may sit there) and neurites of one field, micrometres, origin top-left.

    ``cells[k]`` and ``nuclei[k]`` are arrays over cells / nuclei (fields :data:`CELL_FIELDS`,
    :data:`NUCLEUS_FIELDS`); ``nuclei["cell"]`` is the 0-based cell index; a nucleus with ``cell = -1`` is out of
    the section plane (it only adds a blurred glow to the image). ``free`` cells may sit in lumens (alveolar
    macrophages). ``lumens`` rows are ``(x, y, a, b, angle)``; ``neurites`` are ``(cell, points (m, 2), width)``.
    """

    type_names: list[str]
    cells: dict[str, np.ndarray]
    nuclei: dict[str, np.ndarray]
    lumens: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
    neurites: list[tuple[int, np.ndarray, float]] = field(default_factory=list)

    @property
    def n_cells(self) -> int:
        """Number of planned cells."""
        return int(self.cells["x"].size)


class LayoutBuilder:
    """Collects cells and their nuclei type by type, then freezes them into a :class:`Layout`."""

    def __init__(self, rng: np.random.Generator, width: float, height: float):
        self.rng, self.width, self.height = rng, width, height
        self.type_names: list[str] = []
        self._cells: list[dict[str, np.ndarray]] = []
        self._nuclei: list[dict[str, np.ndarray]] = []
        self._lumens: list[np.ndarray] = []
        self.neurites: list[tuple[int, np.ndarray, float]] = []
        self.n = 0

    def type_index(self, name: str) -> int:
        """Index of a cell type in this layout's ``type_names``, adding it on first use."""
        if name not in self.type_names:
            self.type_names.append(name)
        return self.type_names.index(name)

    def add_cells(
        self,
        cell_type: str,
        x,
        y,
        *,
        angle=0.0,
        a,
        b,
        power=2.0,
        rough=0.15,
        free: bool = False,
    ) -> np.ndarray:
        """Add cells of one type; return their 0-based indices."""
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        n = x.size
        columns = {"x": x, "y": y, "angle": angle, "a": a, "b": b, "power": power, "rough": rough}
        cells = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for k, v in columns.items()}
        cells["ctype"] = np.full(n, self.type_index(cell_type), dtype=np.int64)
        cells["free"] = np.full(n, free, dtype=bool)
        self._cells.append(cells)
        idx = np.arange(self.n, self.n + n)
        self.n += n
        return idx

    def retype(self, cells: np.ndarray, cell_type: str) -> None:
        """Change the type of already-added cells (same geometry)."""
        ctype = np.concatenate([c["ctype"] for c in self._cells])
        ctype[np.asarray(cells, dtype=np.int64)] = self.type_index(cell_type)
        start = 0
        for c in self._cells:
            c["ctype"] = ctype[start : start + c["ctype"].size]
            start += c["ctype"].size

    def add_nuclei(self, cells: np.ndarray, *, du=0.0, dv=0.0, a, b, angle=None, bright=1.0, rough=0.08) -> None:
        """Add one nucleus to each of ``cells``, offset by ``(du, dv)`` um along / across the cell's axis.

        The nucleus is oriented like its cell unless ``angle`` is given. Offsets and sizes broadcast.
        """
        cells = np.asarray(cells, dtype=np.int64)
        if cells.size == 0:
            return
        info = self.cell_columns(cells)
        n = cells.size
        du, dv = np.broadcast_to(du, (n,)), np.broadcast_to(dv, (n,))
        cos, sin = np.cos(info["angle"]), np.sin(info["angle"])
        self._nuclei.append(
            {
                "cell": cells,
                "x": info["x"] + du * cos - dv * sin,
                "y": info["y"] + du * sin + dv * cos,
                "angle": np.broadcast_to(info["angle"] if angle is None else angle, (n,)).astype(np.float64),
                "a": np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)).copy(),
                "b": np.broadcast_to(np.asarray(b, dtype=np.float64), (n,)).copy(),
                "bright": np.broadcast_to(np.asarray(bright, dtype=np.float64), (n,)).copy(),
                "rough": np.broadcast_to(np.asarray(rough, dtype=np.float64), (n,)).copy(),
            }
        )

    def cell_columns(self, cells: np.ndarray) -> dict[str, np.ndarray]:
        """Columns of already-added cells."""
        merged = {k: np.concatenate([c[k] for c in self._cells]) for k in ("x", "y", "angle", "a", "b")}
        return {k: v[cells] for k, v in merged.items()}

    def add_lumens(self, x, y, a, b, angle=0.0) -> None:
        """Add elliptical lumens (air spaces, gland and vessel lumens) where no cell may be."""
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        rows = [np.broadcast_to(np.asarray(v, dtype=np.float64), x.shape) for v in (x, y, a, b, angle)]
        self._lumens.append(np.column_stack(rows))

    def build(self, *, out_of_plane: float = 0.0, only: np.ndarray | None = None) -> Layout:
        """Freeze the layout; each cell (of ``only``, default all) loses its nuclei with probability ``out_of_plane``.

        A nucleus out of the section plane keeps its position with ``cell = -1``: it adds a faint out-of-focus glow.
        """
        if self._cells:
            cells = {k: np.concatenate([c[k] for c in self._cells]) for k in CELL_FIELDS}
        else:
            cells = {
                k: np.zeros(0, dtype=np.int64 if k == "ctype" else bool if k == "free" else float) for k in CELL_FIELDS
            }
        if self._nuclei:
            nuclei = {k: np.concatenate([c[k] for c in self._nuclei]) for k in NUCLEUS_FIELDS}
        else:
            nuclei = {k: np.zeros(0, dtype=np.int64 if k == "cell" else float) for k in NUCLEUS_FIELDS}
        if out_of_plane > 0 and nuclei["cell"].size:
            # whole cells lose their nucleus (all pieces of a multinucleated one stay together)
            gone = self.rng.random(self.n) < out_of_plane
            if only is not None:
                gone &= np.isin(np.arange(self.n), only)
            nuclei["cell"] = np.where(gone[nuclei["cell"]], -1, nuclei["cell"])
        lumens = np.concatenate(self._lumens) if self._lumens else np.zeros((0, 5))
        return Layout(self.type_names, cells, nuclei, lumens, self.neurites)


# --------------------------------------------------------------------------------------------------
# Point patterns and fields
# --------------------------------------------------------------------------------------------------


def hex_points(
    rng: np.random.Generator,
    width: float,
    height: float,
    spacing: float,
    *,
    jitter: float = 0.15,
    drop: float = 0.0,
    margin: float | None = None,
) -> np.ndarray:
    """Jittered hexagonal lattice of ``(x, y)`` points covering the field (plus a margin), a random offset."""
    margin = spacing if margin is None else margin
    row = spacing * np.sqrt(3) / 2
    ys = np.arange(-margin, height + margin, row) + rng.uniform(0, row)
    xs = np.arange(-margin, width + margin, spacing) + rng.uniform(0, spacing)
    gx, gy = np.meshgrid(xs, ys)
    gx = gx + (np.arange(ys.size)[:, None] % 2) * spacing / 2
    points = np.column_stack([gx.ravel(), gy.ravel()])
    points += rng.normal(0, jitter * spacing, points.shape)
    return points[rng.random(len(points)) >= drop]


def poisson_points(rng: np.random.Generator, width: float, height: float, density: float, margin: float = 0.0):
    """Uniform random points at ``density`` per um^2 over the field plus a margin."""
    area = (width + 2 * margin) * (height + 2 * margin)
    n = rng.poisson(density * area)
    return np.column_stack([rng.uniform(-margin, width + margin, n), rng.uniform(-margin, height + margin, n)])


def thin(points: np.ndarray, min_dist: float) -> np.ndarray:
    """Drop points closer than ``min_dist`` to an earlier kept point (a cheap hard-core process)."""
    from scipy.spatial import cKDTree

    if len(points) == 0:
        return points
    pairs = cKDTree(points).query_pairs(min_dist, output_type="ndarray")
    removed = np.zeros(len(points), dtype=bool)
    for i, j in pairs[np.argsort(pairs[:, 0], kind="stable")]:
        if not removed[i]:
            removed[j] = True
    return points[~removed]


class SmoothField:
    """A smooth random scalar field: a sum of a few random plane waves with wavelengths around ``scale`` um."""

    def __init__(self, rng: np.random.Generator, scale: float, n_waves: int = 6):
        angles = rng.uniform(0, np.pi, n_waves)
        k = 2 * np.pi / (scale * rng.uniform(0.7, 1.5, n_waves))
        self.kx, self.ky = k * np.cos(angles), k * np.sin(angles)
        self.phase = rng.uniform(0, 2 * np.pi, n_waves)

    def __call__(self, x, y) -> np.ndarray:
        """Field values in [-1, 1] at ``(x, y)``."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        total = sum(np.cos(kx * x + ky * y + p) for kx, ky, p in zip(self.kx, self.ky, self.phase, strict=True))
        return np.asarray(total) / np.sqrt(len(self.kx) / 2) / 2.5
