"""Overlays of halo and 5 um nuclear expansion on the real crops, for judging by eye.

Writes ``docs/_static/overlay_xenium_breast.png`` and ``docs/_static/overlay_merscope_brain.png`` (cells, nuclei and
transcripts coloured by cell, over DAPI, the two methods side by side on the same window).
Run: ``python benchmarks/real_overlays.py`` (needs ``../shared/data``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import halo  # noqa: E402
from halo.datasets import merscope_brain_crop, xenium_breast_crop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Windows (x0, y0, x1, y1) in image pixels: about 100 x 80 um of each crop.
WINDOWS = {"xenium_breast": (900, 600, 1400, 1000), "merscope_brain": (2000, 2000, 2900, 2750)}


def overlay(name: str, sdata) -> Path:
    halo.tl.segment(sdata, method="halo", key_added="halo", progress=False)
    halo.tl.segment(sdata, method="expansion", expansion_um=5.0, key_added="expansion", progress=False)
    fig = halo.pl.compare(sdata, keys=("halo", "expansion"), region=WINDOWS[name], panel_size=6.0)
    path = ROOT / "docs" / "_static" / f"overlay_{name}.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    _quantise(path)
    return path


def _quantise(path: Path) -> None:
    """128-colour palette: a third of the size, no visible change."""
    from PIL import Image

    image = Image.open(path).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    for name, loader in (("xenium_breast", xenium_breast_crop), ("merscope_brain", lambda: merscope_brain_crop(0))):
        logging.getLogger("halo.benchmarks").info("wrote %s", overlay(name, loader()))


if __name__ == "__main__":
    main()
