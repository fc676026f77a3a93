"""halo: whole-cell segmentation for imaging spatial transcriptomics, inside SpatialData."""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, io, metrics, pl, tl

try:
    __version__ = version("halo")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["datasets", "io", "metrics", "model", "pl", "tl", "__version__"]


def __getattr__(name: str):
    # the network namespace imports torch: load it on first use, so that `import halo` stays light
    if name == "model":
        import importlib

        return importlib.import_module(".model", __name__)
    msg = f"module 'halo' has no attribute {name!r}"
    raise AttributeError(msg)
