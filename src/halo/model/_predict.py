"""Run the network over a window of the slide, patch by patch on a grid fixed to the slide."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from ._features import (
    N_CHANNELS,
    SMOOTH_UM,
    SlideStatistics,
    dapi_channel,
    model_shape,
    smoothing_radius,
    transcript_channels,
)


def window_features(
    dapi: np.ndarray,
    tx_x: np.ndarray,
    tx_y: np.ndarray,
    tx_gene: np.ndarray,
    stats: SlideStatistics,
    *,
    factor: int,
    um_per_px: float,
    smooth_um: float = SMOOTH_UM,
) -> np.ndarray:
    """``(N_CHANNELS, h, w)`` inputs at model resolution for a window; transcripts in the window's native pixels.

    ``smooth_um``: the smoothing of the transcript channels, the network's own (:attr:`NetConfig.smooth_um`).
    """
    channels = np.empty((N_CHANNELS, *model_shape(dapi.shape, factor)), np.float32)
    channels[0] = dapi_channel(dapi, stats.dapi_low, stats.dapi_high, factor)
    transcript_channels(
        tx_x / factor, tx_y / factor, tx_gene, channels.shape[1:], stats.embedding, stats.density_per_um2,
        factor * um_per_px, out=channels[1:], smooth_um=smooth_um,
    )  # fmt: skip
    return channels


def predict(net, features: np.ndarray) -> np.ndarray:
    """Probabilities ``(3, h, w)`` (cell, boundary, nucleus) for ``(C, h, w)`` features, as uint8 (0-255).

    The input is zero-padded at the bottom and right to the network's multiple.
    """
    return predict_batch(net, features[None])[0]


_IMPORTED_IN = os.getpid()


def predict_batch(net, batch: np.ndarray) -> np.ndarray:
    """:func:`predict` for a ``(B, C, h, w)`` batch."""
    import torch

    if os.getpid() != _IMPORTED_IN or threading.current_thread() is not threading.main_thread():
        # tiles already run in parallel, one per core: torch's own threads would only compete with them (on a
        # loaded machine a 2-thread batch ran 6x slower than a 1-thread one); in a forked worker (dask's process
        # scheduler) torch's inherited thread pool would even deadlock
        torch.set_num_threads(1)

    with torch.inference_mode():
        return torch.round(output_probabilities(net, batch) * 255).to(torch.uint8).cpu().numpy()


def output_probabilities(net, batch: np.ndarray):
    """float32 probabilities ``(B, outputs, h, w)`` of ``net`` for a ``(B, C, h, w)`` batch, a tensor on its device.

    The batch is zero-padded at the bottom and right to the network's multiple (0 is the slide's background after
    normalisation). Runs in the network's precision and mode; call it under ``torch.inference_mode()``.
    """
    import torch

    height, width = batch.shape[2:]
    multiple = net.multiple
    shape = (*batch.shape[:2], -(-height // multiple) * multiple, -(-width // multiple) * multiple)
    padded = np.zeros(shape, np.float32)
    padded[:, :, :height, :width] = batch
    weight = next(net.parameters())
    # channels-last runs the small convolutions ~1.4x faster on a CPU (measured)
    inputs = torch.from_numpy(padded).to(weight.device, weight.dtype).contiguous(memory_format=torch.channels_last)
    return torch.sigmoid(net(inputs)[:, :, :height, :width].float())


def inference_batch_size(device) -> int:
    """Patches per forward pass on ``device``: 2 on a CPU, 8 elsewhere.

    On a CPU a larger batch is no faster per patch (14 ms each at 1, 2, 4 or 8 on the 2-core benchmark machine,
    single-threaded) but holds ~90 MB more activations for every tile in flight, and pads a tile's last batch with
    more empty patches.
    """
    return 2 if device.type == "cpu" else 8


def half_precision_dtype(device):
    """The half-precision type the network runs in on ``device``, or ``None`` for float32.

    bfloat16 on CPUs with native bfloat16 arithmetic (AVX512-BF16 or AMX; emulated it would be slower), float16 on
    CUDA, float32 elsewhere. The outputs are rounded to 1/255 anyway; ``tests/test_model.py`` bounds the difference
    to float32 and ``benchmarks/speed.py`` measures the gain.
    """
    import torch

    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        return torch.bfloat16
    return None


def for_inference(net, device):
    """``net`` ready to predict on ``device``: batch norms folded, half precision where it is fast, channels-last."""
    import torch

    from ._net import fused_for_inference

    device = torch.device(device)
    dtype = half_precision_dtype(device) or torch.float32
    return fused_for_inference(net).to(device, dtype, memory_format=torch.channels_last)


@dataclass(frozen=True)
class PatchGrid:
    """Square patches on a grid fixed to the slide: each pixel's prediction comes from one patch whatever the tile.

    A patch is ``stride + 2 * context`` pixels wide and gives the outputs of its central ``stride`` square.
    """

    stride: int = 208
    context: int = 24

    @property
    def size(self) -> int:
        """Side of a patch."""
        return self.stride + 2 * self.context


CELL_PATCHES = PatchGrid(208, 24)
"""The cell network's patches (256 pixels)."""
PATCH_STRIDE, PATCH_CONTEXT = CELL_PATCHES.stride, CELL_PATCHES.context


def patch_reach(
    box_model: tuple[int, int, int, int],
    slide_model: tuple[int, int],
    *,
    model_um: float | None = None,
    smooth_um: float = SMOOTH_UM,
    patches: PatchGrid = CELL_PATCHES,
) -> tuple[int, int, int, int]:
    """Model-pixel box ``(y0, y1, x0, x1)`` of raw data needed to predict ``box_model`` on the global patch grid.

    Patches sit on a grid fixed to the slide (multiples of ``patches.stride``), so every pixel's prediction comes
    from the same patch with the same content, whichever tile asks: results do not depend on the tiling. With
    ``model_um`` the box also holds the transcripts that the smoothing of the patches' features (over ``smooth_um``,
    the network's own) reaches.
    """
    y0, y1, x0, x1 = box_model
    s = patches.stride
    c = patches.context + (0 if model_um is None else smoothing_radius(model_um, smooth_um))
    return (
        max((y0 // s) * s - c, 0),
        min(-(-y1 // s) * s + c, slide_model[0]),
        max((x0 // s) * s - c, 0),
        min(-(-x1 // s) * s + c, slide_model[1]),
    )


def predict_region(
    net, dapi: np.ndarray, tx: tuple[np.ndarray, np.ndarray, np.ndarray], stats: SlideStatistics, *,
    raw_model: tuple[int, int, int, int], want_model: tuple[int, int, int, int], slide_model: tuple[int, int],
    factor: int, um_per_px: float, batch_size: int | None = None, needed: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """uint8 probabilities ``(3, h, w)`` of the cell network over the model box ``want_model``, patch by patch.

    Parameters
    ----------
    dapi
        Native nuclear image over ``raw_model`` (as :func:`patch_reach` with ``model_um`` gives it; clipped to the
        slide).
    tx
        ``(x, y, gene)`` of the transcripts in it, in its native pixels.
    raw_model, want_model, slide_model
        Model-pixel boxes ``(y0, y1, x0, x1)`` of the data and of the wanted output, and the slide's model shape.
    batch_size
        Patches per forward pass; :func:`inference_batch_size` of the network's device by default.
    needed
        Boolean mask over ``want_model``: patches whose output square holds none of its pixels are not run (their
        output is 0), e.g. the background beyond any cell's reach. Each patch that runs gives the same values as
        without the mask.
    """
    # features once over the data: every pixel a patch uses has its whole smoothing kernel inside (the box reaches
    # that far, or to the slide's edge), so its value is the same whichever tile computes it
    return predict_on_patches(
        net, lambda: window_features(
            dapi, *tx, stats, factor=factor, um_per_px=um_per_px, smooth_um=net.config.smooth_um
        ), raw_model=raw_model, want_model=want_model, slide_model=slide_model, batch_size=batch_size,
        needed=needed,
    )  # fmt: skip


def predict_on_patches(
    net, features, *, raw_model: tuple[int, int, int, int], want_model: tuple[int, int, int, int],
    slide_model: tuple[int, int], patches: PatchGrid = CELL_PATCHES, batch_size: int | None = None,
    needed: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """uint8 outputs ``(n_outputs, h, w)`` of ``net`` over ``want_model``, from the slide-fixed grid of ``patches``.

    ``features``: the ``(channels, h, w)`` inputs over ``raw_model`` (clipped to the slide), or a function that
    makes them (called only when some patch runs). The other parameters are :func:`predict_region`'s.
    """
    s, c = patches.stride, patches.context
    batch_size = batch_size or inference_batch_size(next(net.parameters()).device)
    y0, y1, x0, x1 = want_model
    cells = [(a, b) for a in range(y0 // s, -(-y1 // s)) for b in range(x0 // s, -(-x1 // s))]
    if needed is not None:
        cells = [
            (a, b) for a, b in cells
            if needed[max(a * s - y0, 0) : (a + 1) * s - y0, max(b * s - x0, 0) : (b + 1) * s - x0].any()
        ]  # fmt: skip
    out = np.zeros((len(net.outputs), y1 - y0, x1 - x0), np.uint8)
    if not cells:
        return out
    features = features() if callable(features) else features
    for start in range(0, len(cells), batch_size):
        chunk = cells[start : start + batch_size]
        # always a full batch: the convolution's arithmetic (and its last bits) can change with the batch size
        batch = np.zeros((batch_size, features.shape[0], patches.size, patches.size), np.float32)
        for i, (a, b) in enumerate(chunk):
            _cut_patch(features, batch[i], a, b, raw_model, slide_model, patches)
        for (a, b), probabilities in zip(chunk, predict_batch(net, batch)[: len(chunk)], strict=True):
            # the patch's central stride square, clipped to the wanted box
            ty0, ty1 = max(a * s, y0), min((a + 1) * s, y1)
            tx0, tx1 = max(b * s, x0), min((b + 1) * s, x1)
            py, px = ty0 - (a * s - c), tx0 - (b * s - c)
            out[:, ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0] = probabilities[
                :, py : py + ty1 - ty0, px : px + tx1 - tx0
            ]
    return out


def _cut_patch(features, patch, a, b, raw_model, slide_model, patches: PatchGrid) -> None:
    """Copy the features of the patch of stride square ``(a, b)`` into ``patch``; zero outside the slide."""
    s, c, size = patches.stride, patches.context, patches.size
    want = (a * s - c, a * s - c + size, b * s - c, b * s - c + size)
    have = (max(want[0], 0), min(want[1], slide_model[0]), max(want[2], 0), min(want[3], slide_model[1]))
    ry, rx = have[0] - raw_model[0], have[2] - raw_model[2]
    oy, ox = have[0] - want[0], have[2] - want[2]
    h, w = have[1] - have[0], have[3] - have[2]
    patch[:, oy : oy + h, ox : ox + w] = features[:, ry : ry + h, rx : rx + w]
