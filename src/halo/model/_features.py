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

MODEL_UM_PER_PX = 0.5
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
"""Gaussian smoothing of the density and embedding channels."""


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
    that each component's largest loading is positive.
    """
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd

    kept = gene >= 0
    x_um, y_um, gene = x_um[kept], y_um[kept], gene[kept]
    if gene.size == 0 or n_genes == 0:
        return np.zeros((n_genes, N_EMBEDDING), np.float32), 0.0
    bx = np.floor((x_um - x_um.min()) / EMBEDDING_BIN_UM).astype(np.int64)
    by = np.floor((y_um - y_um.min()) / EMBEDDING_BIN_UM).astype(np.int64)
    bins, bin_index = np.unique(by * (bx.max() + 1) + bx, return_inverse=True)
    counts = sparse.csr_matrix(
        (np.ones(gene.size, np.float32), (bin_index, gene.astype(np.int64))), shape=(bins.size, n_genes)
    )
    totals = np.asarray(counts.sum(axis=1)).ravel()
    density = float(totals.mean() / EMBEDDING_BIN_UM**2)
    busy = np.flatnonzero(totals >= 5)
    if busy.size > MAX_EMBEDDING_BINS:  # a sample of bins describes the panel as well as all of them
        busy = np.sort(np.random.default_rng(seed).choice(busy, MAX_EMBEDDING_BINS, replace=False))
    normalised = np.log1p((sparse.diags(1e2 / totals[busy]) @ counts[busy]).toarray())
    loadings = np.zeros((n_genes, N_EMBEDDING), np.float32)
    k = min(N_EMBEDDING, min(normalised.shape) - 1)
    if k >= 1:
        centred = normalised - normalised.mean(axis=0)
        if min(centred.shape) <= 1000:  # small: exact and faster than the randomised solver
            components = np.linalg.svd(centred, full_matrices=False)[2][:k].T
        else:
            components = randomized_svd(centred, k, random_state=seed)[2].T
        signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(k)])
        components = components * np.where(signs == 0, 1, signs)
        components /= np.abs(components).max(axis=0, keepdims=True) + 1e-12
        loadings[:, :k] = components
    return loadings, density


def bin_factor(um_per_px: float) -> int:
    """Integer binning that brings ``um_per_px`` closest to :data:`MODEL_UM_PER_PX`."""
    return max(1, round(MODEL_UM_PER_PX / um_per_px))


def dapi_channel(window: np.ndarray, low: float, high: float, factor: int) -> np.ndarray:
    """Normalise the stain to [0, 1] with the slide's percentiles and average it over ``factor`` x ``factor`` blocks.

    A window whose sides are not multiples of ``factor`` is padded at the bottom and right by repeating its edge.
    """
    image = np.nan_to_num(np.clip((np.asarray(window, np.float32) - low) / (high - low), 0, 1))
    height, width = model_shape(image.shape, factor)
    pad = ((0, height * factor - image.shape[0]), (0, width * factor - image.shape[1]))
    if any(p[1] for p in pad):
        image = np.pad(image, pad, mode="edge")
    return image.reshape(height, factor, width, factor).mean(axis=(1, 3))


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
) -> np.ndarray:
    """Log density and mean expression embedding of transcripts, on a ``shape`` grid at model resolution.

    ``x`` and ``y`` are in model pixels of the window; transcripts outside it or with ``gene < 0`` are ignored.
    """
    from scipy import ndimage

    height, width = shape
    col = np.floor(x).astype(np.int64)
    row = np.floor(y).astype(np.int64)
    inside = (gene >= 0) & (col >= 0) & (col < width) & (row >= 0) & (row < height)
    flat = row[inside] * width + col[inside]
    genes = gene[inside]
    sigma = SMOOTH_UM / model_um
    count = ndimage.gaussian_filter(
        np.bincount(flat, minlength=height * width).reshape(shape).astype(np.float32), sigma
    )
    expected = max(density_per_um2, 1e-3) * model_um**2
    channels = np.empty((1 + N_EMBEDDING, height, width), np.float32)
    channels[0] = np.log1p(count / expected)
    for k in range(N_EMBEDDING):
        summed = np.bincount(flat, weights=embedding[genes, k], minlength=height * width).reshape(shape)
        channels[1 + k] = ndimage.gaussian_filter(summed.astype(np.float32), sigma) / (count + 0.5 * expected)
    return channels
