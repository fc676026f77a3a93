"""Network inputs at a fixed physical resolution: nuclear stain, transcript density and expression embedding.

Every platform is binned by the integer factor that brings its pixels closest to :data:`MODEL_UM_PER_PX`
(Xenium 0.2125 um x 2, MERSCOPE 0.108 um x 5, CosMx 0.12 um x 4: 0.43-0.54 um), so the network sees cells at
nearly the same size in pixels whatever the instrument, and it is trained over that range of scales. An integer
factor keeps the model grid aligned with the slide's pixels in every tile, so results do not depend on the tiling.

The expression channels come from a gene embedding computed from the slide itself at run time
(:func:`gene_embedding`), so the same network works with any gene panel: neighbouring cells of different types
differ in these channels even where the stain shows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._tiling import GRID_UM_PER_PX

MODEL_UM_PER_PX = GRID_UM_PER_PX
"""Target resolution of the network: a 10 um nucleus spans about 20 pixels."""
N_EMBEDDING = 4
"""Expression-embedding channels."""
N_CHANNELS = 2 + N_EMBEDDING
"""DAPI, log transcript density, then the embedding channels."""
EMBEDDING_BIN_UM = 10.0
"""Side of the spatial bins whose gene counts define the embedding: about one cell."""
MAX_EMBEDDING_BINS = 20_000
"""Bins sampled for the embedding, which bounds its memory on a whole slide."""
SMOOTH_UM = 1.5
"""Gaussian smoothing of the density and embedding channels, by default; a network records its own
(:attr:`~halo.model.NetConfig.smooth_um`)."""


@dataclass(frozen=True)
class SlideStatistics:
    """Slide-wide constants, so that every tile's features are scaled alike."""

    dapi_low: float
    dapi_high: float
    density_per_um2: float
    """Mean transcript density over occupied bins (transcripts per um^2)."""
    embedding: np.ndarray
    """``(n_genes, N_EMBEDDING)`` float32 loading of each gene."""


def gene_embedding(
    x_um: np.ndarray, y_um: np.ndarray, gene: np.ndarray, n_genes: int, *, seed: int = 0
) -> tuple[np.ndarray, float]:
    """Embed genes by their co-occurrence in cell-sized bins; also return the mean density of occupied bins.

    Bins of :data:`EMBEDDING_BIN_UM` are counted per gene, normalised per bin and log-transformed; the leading
    right singular vectors of the centred matrix give each gene a point in ``N_EMBEDDING`` dimensions. Genes of one
    cell type land together, so a pixel's mean embedding says which kind of cell it lies in. Signs are fixed so
    that each component's largest loading is positive. :class:`EmbeddingCounts` does the same part by part.
    """
    kept = gene >= 0
    if not kept.any():
        return np.zeros((n_genes, N_EMBEDDING), np.float32), 0.0
    origin = (float(y_um[kept].min()), float(x_um[kept].min()))
    extent = (float(y_um[kept].max()) - origin[0] + 1e-6, float(x_um[kept].max()) - origin[1] + 1e-6)
    counts = EmbeddingCounts(n_genes, extent, origin_um=origin)
    counts.add(x_um, y_um, gene)
    return counts.embedding(seed=seed)


class EmbeddingCounts:
    """Per-gene counts in :data:`EMBEDDING_BIN_UM` bins over a field, added part by part in bounded memory.

    On a large field only bins on a regular sub-grid are counted (at most about 4 x :data:`MAX_EMBEDDING_BINS`),
    chosen before any transcript is seen, so memory does not grow with the slide; the density counts every bin.

    Parameters
    ----------
    n_genes
        Number of genes (gene indices run ``0..n_genes - 1``; negative ones are ignored).
    extent_um
        ``(height, width)`` of the field; transcripts outside it are ignored.
    origin_um
        ``(y, x)`` of the field's corner.
    """

    def __init__(self, n_genes: int, extent_um: tuple[float, float], *, origin_um: tuple[float, float] = (0.0, 0.0)):
        self.n_genes = n_genes
        self.origin = origin_um
        self.shape = tuple(max(1, int(np.ceil(e / EMBEDDING_BIN_UM))) for e in extent_um)
        self.stride = max(1, int(np.ceil(np.sqrt(self.shape[0] * self.shape[1] / (4 * MAX_EMBEDDING_BINS)))))
        self.occupied = np.zeros(self.shape[0] * self.shape[1], bool)
        self.n_counted = 0
        self._keys: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []

    def add(self, x_um: np.ndarray, y_um: np.ndarray, gene: np.ndarray) -> None:
        """Count transcripts (micrometres; ``gene < 0`` ignored)."""
        bx = np.floor((x_um - self.origin[1]) / EMBEDDING_BIN_UM)
        by = np.floor((y_um - self.origin[0]) / EMBEDDING_BIN_UM)
        inside = (gene >= 0) & (bx >= 0) & (bx < self.shape[1]) & (by >= 0) & (by < self.shape[0])
        bx, by, gene = bx[inside].astype(np.int64), by[inside].astype(np.int64), gene[inside].astype(np.int64)
        bins = by * self.shape[1] + bx
        self.occupied[bins] = True
        self.n_counted += bins.size
        sampled = (bx % self.stride == 0) & (by % self.stride == 0)
        keys, counts = np.unique(bins[sampled] * self.n_genes + gene[sampled], return_counts=True)
        self._keys.append(keys)
        self._counts.append(counts)
        if sum(k.size for k in self._keys) > 4 * keys.size + 1_000_000:  # merge now and then: memory stays bounded
            self._merge()

    def _merge(self) -> None:
        keys = np.concatenate(self._keys)
        unique, inverse = np.unique(keys, return_inverse=True)
        self._keys = [unique]
        self._counts = [np.bincount(inverse, weights=np.concatenate(self._counts)).astype(np.int64)]

    def embedding(self, *, seed: int = 0) -> tuple[np.ndarray, float]:
        """``(n_genes, N_EMBEDDING)`` float32 loadings and the mean density (transcripts per um^2) of occupied bins."""
        from scipy import sparse

        loadings = np.zeros((self.n_genes, N_EMBEDDING), np.float32)
        n_occupied = int(self.occupied.sum())
        if n_occupied == 0 or self.n_genes == 0:
            return loadings, 0.0
        density = float(self.n_counted / n_occupied / EMBEDDING_BIN_UM**2)
        self._merge()
        bins, gene = np.divmod(self._keys[0], self.n_genes)
        rows, bin_index = np.unique(bins, return_inverse=True)
        counts = sparse.csr_matrix(
            (self._counts[0].astype(np.float32), (bin_index, gene)), shape=(rows.size, self.n_genes)
        )
        totals = np.asarray(counts.sum(axis=1)).ravel()
        busy = np.flatnonzero(totals >= 5)
        if busy.size > MAX_EMBEDDING_BINS:  # a sample of bins describes the panel as well as all of them
            busy = np.sort(np.random.default_rng(seed).choice(busy, MAX_EMBEDDING_BINS, replace=False))
        normalised = np.log1p((sparse.diags(1e2 / totals[busy]) @ counts[busy]).toarray())
        k = min(N_EMBEDDING, min(normalised.shape) - 1)
        if k >= 1:
            centred = normalised - normalised.mean(axis=0)
            if self.n_genes <= 1000:  # the right singular vectors, exactly, from the small gene-by-gene matrix
                values, vectors = np.linalg.eigh(centred.T.astype(np.float64) @ centred)
                components = vectors[:, np.argsort(values)[::-1][:k]]
            else:
                from sklearn.utils.extmath import randomized_svd  # imported only here: it takes 0.6 s

                components = randomized_svd(centred, k, random_state=seed)[2].T
            signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(k)])
            components = components * np.where(signs == 0, 1, signs)
            components /= np.abs(components).max(axis=0, keepdims=True) + 1e-12
            loadings[:, :k] = components
        return loadings, density


def dapi_channel(window: np.ndarray, low: float, high: float, factor: int) -> np.ndarray:
    """Normalise the stain to [0, 1] with the slide's percentiles and average it over ``factor`` x ``factor`` blocks.

    A window whose sides are not multiples of ``factor`` is padded at the bottom and right by repeating its edge.
    """
    from .._geometry import block_mean

    return block_mean(window, factor, lambda x: normalised_stain(x, low, high))


def normalised_stain(stain: np.ndarray, low: float, high: float) -> np.ndarray:
    """float32 stain scaled so that the slide's ``low`` -> 0 and ``high`` -> 1, clipped to [0, 1], NaN -> 0.

    The network's nuclear input; training normalises its images with this too.
    """
    return np.nan_to_num(np.clip((np.asarray(stain, np.float32) - low) / (high - low), 0, 1))


def smoothing_radius(model_um: float, smooth_um: float = SMOOTH_UM) -> int:
    """Reach (model pixels) of the smoothing of the transcript channels: scipy's Gaussian kernel radius."""
    return int(4.0 * smooth_um / model_um + 0.5)


def model_shape(native_shape: tuple[int, int], factor: int) -> tuple[int, int]:
    """Shape at model resolution of a window of ``native_shape`` pixels (partial blocks count)."""
    return (-(-native_shape[0] // factor), -(-native_shape[1] // factor))


def transcript_channels(
    x: np.ndarray,
    y: np.ndarray,
    gene: np.ndarray,
    shape: tuple[int, int],
    embedding: np.ndarray,
    density_per_um2: float,
    model_um: float,
    *,
    out: np.ndarray | None = None,
    smooth_um: float = SMOOTH_UM,
) -> np.ndarray:
    """Log density and mean expression embedding of transcripts, on a ``shape`` grid at model resolution.

    ``x`` and ``y`` are in model pixels of the window; transcripts outside it or with ``gene < 0`` are ignored.
    ``out``: a float32 ``(1 + N_EMBEDDING, *shape)`` array to fill (e.g. part of the network's input), so that no
    second copy of the channels is made. ``smooth_um``: the Gaussian smoothing of every channel.
    """
    from scipy import ndimage

    height, width = shape
    col = np.floor(x).astype(np.int64)
    row = np.floor(y).astype(np.int64)
    inside = (gene >= 0) & (col >= 0) & (col < width) & (row >= 0) & (row < height)
    flat = row[inside] * width + col[inside]
    genes = gene[inside]
    del col, row, inside
    sigma = smooth_um / model_um
    channels = np.empty((1 + N_EMBEDDING, height, width), np.float32) if out is None else out
    count = np.bincount(flat, minlength=height * width).reshape(shape).astype(np.float32)
    ndimage.gaussian_filter(count, sigma, output=count)
    expected = max(density_per_um2, 1e-3) * model_um**2
    np.log1p(count / expected, out=channels[0])
    count += 0.5 * expected  # from here on the denominator of the mean embedding
    for k in range(N_EMBEDDING):  # each channel smoothed in place: one float32 plane of scratch at a time
        summed = np.bincount(flat, weights=embedding[genes, k], minlength=height * width).reshape(shape)
        channels[1 + k] = summed
        del summed
        ndimage.gaussian_filter(channels[1 + k], sigma, output=channels[1 + k])
        channels[1 + k] /= count
    return channels
