"""halo: whole-cell segmentation for imaging spatial transcriptomics, inside SpatialData."""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from . import _logging

_logging.setup()

try:
    __version__ = version("halo")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["datasets", "io", "methods", "metrics", "model", "pl", "tl", "training", "__version__"]
_NAMESPACES = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:
    from . import datasets, io, methods, metrics, model, pl, tl, training


def __getattr__(name: str):
    # namespaces load on first use: `import halo` stays light, and a segmentation never loads the simulator,
    # the metrics or the training code
    if name in _NAMESPACES:
        return importlib.import_module(f".{name}", __name__)
    msg = f"module 'halo' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *_NAMESPACES])
