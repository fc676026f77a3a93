"""Fine-tuning the shipped network on a user's own data that has a reference segmentation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._data import example_from_tissue
from ._train import TrainConfig, train

if TYPE_CHECKING:
    from spatialdata import SpatialData

    from ..model import HaloNet

logger = logging.getLogger(__name__)

MAX_REGION_PIXELS = 64_000_000
"""Largest region (native pixels) read for fine-tuning: pass ``region=`` on bigger slides."""


@dataclass
class _Field:
    """A region of the user's slide in the shape training expects (see :class:`halo.datasets.Tissue`)."""

    dapi: np.ndarray
    cells: np.ndarray
    nuclei: np.ndarray
    tx_x: np.ndarray
    tx_y: np.ndarray
    tx_gene: np.ndarray
    genes: list[str]
    um_per_px: float


def fine_tune(
    sdata: SpatialData,
    output_dir: str | Path,
    *,
    cells_key: str,
    nuclei_key: str,
    image_key: str | None = None,
    points_key: str | None = None,
    region: tuple[int, int, int, int] | None = None,
    steps: int = 300,
    learning_rate: float = 5e-4,
    device: str | None = None,
    progress: bool = True,
) -> HaloNet:
    """Adapt the shipped network to a slide with a reference segmentation (e.g. Xenium's multimodal cell labels).

    The network starts from the pretrained weights and trains on crops of ``region``; use the result with
    ``halo.tl.segment(..., weights=output_dir / "checkpoint.safetensors")`` on slides of the same kind. Keep part of
    the slide out of ``region`` to check the gain there.

    Parameters
    ----------
    sdata
        SpatialData with the nuclear image, the transcripts and the reference.
    output_dir
        Folder for the checkpoints and the training log (an interrupted run resumes from it).
    cells_key, nuclei_key
        Labels elements of the reference cells and nuclei, on the nuclear image's pixel grid (nucleus labels need
        not match cell ids).
    image_key, points_key
        The nuclear image and the transcripts; found automatically as in :func:`halo.tl.segment`.
    region
        ``(y0, y1, x0, x1)`` in image pixels to train on; the whole image by default (up to
        :data:`MAX_REGION_PIXELS`).
    steps, learning_rate
        Training length and peak learning rate.
    device
        Torch device; by default CUDA, then MPS, then CPU.
    progress
        Show a progress bar.

    Returns
    -------
    The fine-tuned network.
    """
    from ..model import pretrained

    field = _field_from_sdata(sdata, cells_key, nuclei_key, image_key, points_key, region)
    base = pretrained()
    example = example_from_tissue(field, smooth_um=base.config.smooth_um)
    config = replace(
        TrainConfig(), steps=steps, learning_rate=learning_rate, width=base.config.width, depth=base.config.depth,
        smooth_um=base.config.smooth_um,
        eval_every=0, crop_px=min(128, *(s // base.multiple * base.multiple for s in example.cells.shape)),
    )  # fmt: skip
    if config.crop_px < base.multiple:
        msg = f"The region {example.cells.shape} (model pixels) is too small to fine-tune on; pass a larger region."
        raise ValueError(msg)
    import copy

    return train(
        output_dir, config=config, device=device, init=copy.deepcopy(base), examples=[example], progress=progress
    )


def _field_from_sdata(sdata, cells_key, nuclei_key, image_key, points_key, region) -> _Field:
    from .. import io as hio

    image = hio.get_nuclear_image(sdata, image_key=image_key)
    shape = tuple(int(s) for s in image.data.shape)
    y0, y1, x0, x1 = region if region is not None else (0, shape[0], 0, shape[1])
    if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]):
        msg = f"region={region} does not lie inside image {image.key!r} of shape {shape}; give (y0, y1, x0, x1)."
        raise ValueError(msg)
    if (y1 - y0) * (x1 - x0) > MAX_REGION_PIXELS:
        msg = f"The region has {(y1 - y0) * (x1 - x0)} pixels, more than {MAX_REGION_PIXELS}; pass a smaller `region=`."
        raise ValueError(msg)
    labels = {
        key: np.asarray(hio.labels_on_image_grid(sdata, key, image.key, shape)[y0:y1, x0:x1]).astype(np.int32)
        for key in (cells_key, nuclei_key)
    }
    points_key = hio.find_points_key(sdata, points_key)
    to_pixels = hio.affine_between(sdata, points_key, image.key)
    transcripts = hio.load_transcripts(sdata, points_key, to_pixels)
    inside = (transcripts.x >= x0) & (transcripts.x < x1) & (transcripts.y >= y0) & (transcripts.y < y1)
    cells = labels[cells_key]
    # nucleus pixels carry their cell's id, as in the simulator
    nuclei = np.where(labels[nuclei_key] > 0, cells, 0)
    return _Field(
        dapi=np.asarray(image.data[y0:y1, x0:x1]),
        cells=cells,
        nuclei=nuclei,
        tx_x=(transcripts.x[inside] - x0).astype(np.float32),
        tx_y=(transcripts.y[inside] - y0).astype(np.float32),
        tx_gene=transcripts.gene[inside],
        genes=transcripts.genes,
        um_per_px=hio.pixel_size_um(to_pixels),
    )
