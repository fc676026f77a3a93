"""A small network for nuclei alone: from the nuclear stain to nucleus and centre-distance probabilities.

It sees only the stain, on halo's working grid (:data:`~halo._tiling.GRID_UM_PER_PX`), normalised as halo
normalises a slide: the slide-wide 1st and 99.9th percentiles map to 0 and 1, clipped
(:func:`~halo.model._features.dapi_channel` makes exactly this input from a window of native pixels). Its two
outputs are the probability that a pixel lies in a nucleus, and the distance to the nucleus's edge normalised to 1
at its centre, whose peaks seed one nucleus each where nuclei touch
(:func:`~halo.methods.nuclei_from_network` decodes them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ._architectures import register_architecture
from ._net import HaloNet
from ._predict import output_probabilities

NUCLEUS_OUTPUTS = ("foreground", "distance")
"""Output channels (logits): inside a nucleus; distance to its edge, normalised to 1 at its centre."""


@dataclass(frozen=True)
class NucleusNetConfig:
    """Architecture and the decoding thresholds chosen for its weights; stored with them."""

    width: int = 16
    depth: int = 3
    unshuffle: int = 2
    """The stain enters as ``unshuffle`` x ``unshuffle`` blocks of pixels stacked as channels, and each output
    pixel of the U-Net comes out as such a block again: the U-Net runs on a grid this many times coarser (about
    4x less work per pixel at 2) while the outputs keep the input's resolution."""
    foreground_threshold: float = 0.5
    """Probability above which a pixel is nucleus (chosen on validation images after training)."""
    seed_threshold: float = 0.5
    """Normalised distance above which pixels seed a nucleus (chosen alike)."""

    @property
    def in_channels(self) -> int:
        """Channels of the U-Net proper: the stain's pixel blocks."""
        return self.unshuffle**2

    def as_metadata(self) -> dict[str, str]:
        """String form for safetensors metadata."""
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> NucleusNetConfig:
        """Inverse of :meth:`as_metadata`."""
        return cls(
            width=int(metadata["width"]),
            depth=int(metadata["depth"]),
            unshuffle=int(metadata["unshuffle"]),
            foreground_threshold=float(metadata["foreground_threshold"]),
            seed_threshold=float(metadata["seed_threshold"]),
        )


@register_architecture
class NucleusNet(HaloNet):
    """HaloNet's U-Net on blocks of the stain (one input channel), with :data:`NUCLEUS_OUTPUTS` as outputs.

    Input sides must be multiples of :attr:`multiple`; :func:`predict_nuclei` pads them.
    """

    architecture = "halo_nucleus_unet"
    config_class = NucleusNetConfig
    outputs = NUCLEUS_OUTPUTS

    def __init__(self, config: NucleusNetConfig | None = None):
        super().__init__(config or NucleusNetConfig())
        self.head = nn.Conv2d(self.config.width, len(NUCLEUS_OUTPUTS) * self.config.unshuffle**2, 1)

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return self.config.unshuffle * 2**self.config.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, len(NUCLEUS_OUTPUTS), H, W)`` for a ``(batch, 1, H, W)`` normalised stain."""
        f = self.config.unshuffle
        return nn.functional.pixel_shuffle(super().forward(nn.functional.pixel_unshuffle(x, f)), f)


def predict_nuclei(net: NucleusNet, image: np.ndarray) -> np.ndarray:
    """float32 ``(2, h, w)`` probabilities (:data:`NUCLEUS_OUTPUTS`) for a normalised ``(h, w)`` stain in [0, 1].

    The image is zero-padded at the bottom and right to the network's multiple (0 is the slide's background after
    normalisation). Runs on the network's device, in its precision and mode: pass an ``eval()`` network, or the
    faster copy :func:`~halo.model.for_inference` makes (batch norms folded, bfloat16 on CPUs with native bfloat16:
    ~2x faster there, probabilities within 0.01 of float32).
    """
    with torch.inference_mode():
        return output_probabilities(net, np.asarray(image)[None, None])[0].cpu().numpy()
