"""A network the size and shape of Cellpose-SAM, with random weights, to time it (speed only).

Cellpose-SAM (Pachitariu, Rariden, Stringer 2025; ``cellpose/vit_sam.py``) takes SAM's ViT-L image encoder (24
blocks, width 1024, 16 heads, MLP 4096, decomposed relative position bias), shrinks the token size from 16 to 8
pixels for 256 x 256 inputs (32 x 32 tokens), makes every block's attention global, keeps SAM's neck (1024 -> 256
channels) and reads out ``nout`` maps per pixel from each token with a 1 x 1 convolution and a fixed transposed
convolution. Built here in plain torch with the same layer shapes (about 305 M parameters).
"""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Global multi-head attention with SAM's decomposed relative position bias."""

    def __init__(self, dim: int, heads: int, side: int):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.rel_h = nn.Parameter(torch.randn(2 * side - 1, dim // heads) * 0.02)
        self.rel_w = nn.Parameter(torch.randn(2 * side - 1, dim // heads) * 0.02)
        index = torch.arange(side)[:, None] - torch.arange(side)[None, :] + side - 1
        self.register_buffer("index", index, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        q, k, v = self.qkv(x).reshape(b, h * w, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        r = q.reshape(b, self.heads, h, w, -1)
        bias_h = torch.einsum("bnhwc,hkc->bnhwk", r, self.rel_h[self.index])
        bias_w = torch.einsum("bnhwc,wkc->bnhwk", r, self.rel_w[self.index])
        bias = (bias_h[..., :, None] + bias_w[..., None, :]).reshape(b, self.heads, h * w, h * w)
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, h, w, c))


class Block(nn.Module):
    """Pre-norm transformer block: attention, then a 4x MLP with GELU."""

    def __init__(self, dim: int, heads: int, side: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, side)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of a ``(B, C, H, W)`` map, as SAM's neck uses."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class CellposeSAMSized(nn.Module):
    """Patch embedding, ``depth`` global-attention blocks, SAM's neck and Cellpose-SAM's per-token pixel readout."""

    def __init__(self, *, dim=1024, depth=24, heads=16, patch=8, size=256, in_channels=3, nout=3):
        super().__init__()
        side = size // patch
        self.patch = patch
        self.embed = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, side, side, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, side) for _ in range(depth))
        self.neck = nn.Sequential(
            nn.Conv2d(dim, 256, 1, bias=False),
            LayerNorm2d(256),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            LayerNorm2d(256),
        )
        self.out = nn.Conv2d(256, nout * patch**2, 1)
        eye = torch.eye(nout * patch**2).reshape(nout * patch**2, nout, patch, patch)
        self.register_buffer("unpatch", eye, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, nout, size, size)`` maps for ``(B, in_channels, size, size)`` images."""
        x = self.embed(x).permute(0, 2, 3, 1) + self.pos
        for block in self.blocks:
            x = block(x)
        x = self.out(self.neck(x.permute(0, 3, 1, 2)))
        return nn.functional.conv_transpose2d(x, self.unpatch, stride=self.patch)
