"""Where the network runs: one choice of torch device, logged, never a silent fallback."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def pick_device(device: str | None = None):
    """``device`` if given (an error if it is not available), else CUDA, then MPS, then CPU; logged."""
    import torch

    if device is not None:
        wanted = torch.device(device)
        if wanted.type == "cuda" and not torch.cuda.is_available():
            msg = f"device={device!r} was asked for, but torch sees no CUDA GPU; pass device='cpu' or None."
            raise RuntimeError(msg)
        if wanted.type == "mps" and not torch.backends.mps.is_available():
            msg = f"device={device!r} was asked for, but MPS is not available; pass device='cpu' or None."
            raise RuntimeError(msg)
        chosen = wanted
    elif torch.cuda.is_available():
        chosen = torch.device("cuda")
    elif torch.backends.mps.is_available():
        chosen = torch.device("mps")
    else:
        chosen = torch.device("cpu")
    logger.info("using device %s", chosen)
    return chosen
