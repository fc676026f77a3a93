"""The network: a compact U-Net from the input channels to cell, boundary and nucleus probabilities."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ._architectures import register_architecture
from ._features import SMOOTH_UM

OUTPUTS = ("cell", "boundary", "nucleus")
"""Output channels (logits): inside any cell, on a cell's border, inside a nucleus."""


@dataclass(frozen=True)
class NetConfig:
    """Architecture; stored with the weights so that a file always rebuilds the network it came from."""

    in_channels: int = 6
    width: int = 8
    depth: int = 4
    smooth_um: float = SMOOTH_UM
    """Gaussian smoothing of the transcript channels the network was trained on; inference smooths them alike."""

    def as_metadata(self) -> dict[str, str]:
        """String form for safetensors metadata."""
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> NetConfig:
        """Inverse of :meth:`as_metadata`."""
        sizes = {k: int(metadata[k]) for k in ("in_channels", "width", "depth")}
        return cls(**sizes, smooth_um=float(metadata.get("smooth_um", SMOOTH_UM)))  # older files: the default


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


@register_architecture
class HaloNet(nn.Module):
    """U-Net with ``depth`` down-sampling steps; input sides must be multiples of ``2**depth``."""

    architecture = "halo_unet"
    config_class = NetConfig
    outputs = OUTPUTS
    """Names of the output channels, in order."""

    def __init__(self, config: NetConfig | None = None):
        super().__init__()
        self.config = config or NetConfig()
        widths = [self.config.width * 2**i for i in range(self.config.depth + 1)]
        self.down = nn.ModuleList()
        c_in = self.config.in_channels
        for w in widths:
            self.down.append(_block(c_in, w))
            c_in = w
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_low, w_high in zip(widths[::-1][:-1], widths[::-1][1:], strict=True):
            self.up.append(nn.ConvTranspose2d(w_low, w_high, 2, stride=2))
            self.merge.append(_block(2 * w_high, w_high))
        self.head = nn.Conv2d(widths[0], len(OUTPUTS), 1)

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2**self.config.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, len(OUTPUTS), H, W)``."""
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def fused_for_inference(net: HaloNet) -> HaloNet:
    """A copy of ``net`` in eval mode with each batch normalisation folded into the convolution before it.

    The same function of the input up to rounding, with a third fewer passes over memory (measured in
    ``benchmarks/speed.py``).
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(net).eval()
    for block in [*fused.down, *fused.merge]:
        for i in range(len(block) - 1):
            if isinstance(block[i], nn.Conv2d) and isinstance(block[i + 1], nn.BatchNorm2d):
                block[i] = fuse_conv_bn_eval(block[i], block[i + 1])
                block[i + 1] = nn.Identity()
    return fused.eval()
