"""Training examples: simulated tissue turned into network inputs and targets, with augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._geometry import block_sample
from .._tiling import bin_factor
from ..methods import stain_range
from ..model import N_EMBEDDING, SMOOTH_UM, SlideStatistics, gene_embedding, window_features

TRAIN_UM_PER_PX = (0.2, 0.55)
"""Native pixel sizes drawn for training: binned by :func:`bin_factor`, they cover every platform's model scale."""


@dataclass
class Example:
    """One field at model resolution: inputs, targets and the true labels (for held-out scores)."""

    features: np.ndarray
    """``(N_CHANNELS, h, w)`` float32."""
    targets: np.ndarray
    """``(3, h, w)`` float32: cell, boundary, nucleus."""
    cells: np.ndarray
    """``(h, w)`` int32 true cells at model resolution."""
    nuclei: np.ndarray
    """``(h, w)`` int32 true nuclei (labelled by cell) at model resolution."""


def slide_statistics(dapi: np.ndarray, x_um, y_um, gene, n_genes: int) -> SlideStatistics:
    """What :func:`halo.tl.segment` computes once per slide, computed for one field."""
    low, high = stain_range(dapi)
    embedding, density = gene_embedding(x_um, y_um, gene, n_genes)
    return SlideStatistics(float(low), float(high), density, embedding)


def kept_genes(tissue) -> np.ndarray:
    """Gene index of each transcript, -1 for control probes (as the pipeline drops them)."""
    from ..io import DEFAULT_CONTROL_PATTERN, control_mask

    control = np.append(control_mask(tissue.genes, DEFAULT_CONTROL_PATTERN), True)  # gene -1: already dropped
    return np.where(control[tissue.tx_gene], -1, tissue.tx_gene).astype(np.int32)


def example_from_tissue(tissue, rng: np.random.Generator | None = None, *, smooth_um: float = SMOOTH_UM) -> Example:
    """Inputs and targets for one simulated field; with ``rng``, transcripts are thinned at random first.

    ``smooth_um``: the smoothing of the transcript channels (the network's :attr:`~halo.model.NetConfig.smooth_um`).
    """
    gene = kept_genes(tissue)
    x, y = tissue.tx_x, tissue.tx_y
    if rng is not None and rng.random() < 0.5:
        keep = rng.random(gene.size) < rng.uniform(0.3, 1.0)
        x, y, gene = x[keep], y[keep], gene[keep]
    um = tissue.um_per_px
    stats = slide_statistics(tissue.dapi, x * um, y * um, gene, len(tissue.genes))
    factor = bin_factor(um)
    features = window_features(tissue.dapi, x, y, gene, stats, factor=factor, um_per_px=um, smooth_um=smooth_um)
    cells = block_sample(tissue.cells, factor)
    nuclei = block_sample(tissue.nuclei, factor)
    targets = np.stack([cells > 0, cell_borders(cells), nuclei > 0]).astype(np.float32)
    return Example(features, targets, cells, nuclei)


def cell_borders(cells: np.ndarray) -> np.ndarray:
    """Pixels of a cell whose 4-neighbour belongs elsewhere (another cell or outside): a 2-pixel band at contacts."""
    padded = np.pad(cells, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    differs = np.zeros(cells.shape, dtype=bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        differs |= padded[dy : dy + cells.shape[0], dx : dx + cells.shape[1]] != centre
    return differs & (cells > 0)


def draw_tissue(rng: np.random.Generator, *, size_um: float, archetypes: tuple[str, ...]):
    """A fresh simulated field of a random archetype, platform and pixel size."""
    from ..datasets import PLATFORMS, simulate_tissue

    return simulate_tissue(
        str(rng.choice(archetypes)),
        size_um=size_um,
        seed=int(rng.integers(0, 1_000_000)),  # held-out benchmark seeds start at 1_000_000
        platform=str(rng.choice(list(PLATFORMS))),
        um_per_px=float(rng.uniform(*TRAIN_UM_PER_PX)),
    )


def augment(features: np.ndarray, targets: np.ndarray, rng: np.random.Generator):
    """Random crop-independent changes: dihedral transform, stain gain and gamma, embedding signs and order."""
    k = int(rng.integers(4))
    features, targets = np.rot90(features, k, axes=(1, 2)), np.rot90(targets, k, axes=(1, 2))
    if rng.random() < 0.5:
        features, targets = features[:, :, ::-1], targets[:, :, ::-1]
    features = features.copy()
    features[0] = np.clip(features[0] * rng.uniform(0.6, 1.4), 0, 1) ** rng.uniform(0.7, 1.4)
    features[0] += rng.normal(0, rng.uniform(0, 0.03), features[0].shape).astype(np.float32)
    order = 2 + rng.permutation(N_EMBEDDING)
    signs = rng.choice([-1.0, 1.0], N_EMBEDDING).astype(np.float32)
    features[2:] = features[order] * signs[:, None, None]
    return features, np.ascontiguousarray(targets)


def random_crops(example: Example, rng: np.random.Generator, size: int, n: int):
    """``n`` augmented ``size`` x ``size`` crops (inputs, targets) of an example."""
    height, width = example.features.shape[1:]
    if height < size or width < size:
        msg = f"The simulated field ({height} x {width} px) is smaller than the crop ({size} px)."
        raise ValueError(msg)
    for _ in range(n):
        y0, x0 = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
        crop = (slice(None), slice(y0, y0 + size), slice(x0, x0 + size))
        yield augment(example.features[crop], example.targets[crop], rng)
