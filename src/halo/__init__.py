"""halo: whole-cell segmentation for imaging spatial transcriptomics, inside SpatialData."""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, io, metrics, pl, tl

try:
    __version__ = version("halo")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["datasets", "io", "metrics", "pl", "tl", "__version__"]
