"""Load a script of ``benchmarks/`` as a module, so tests can check its helpers (test helper, not part of ``halo``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/{name}.py`` as module ``halo_benchmarks_{name}``; ``sys.path`` is left as it was.

    Some scripts put ``benchmarks/`` on ``sys.path`` to import their siblings; that is undone after loading.
    """
    spec = importlib.util.spec_from_file_location(f"halo_benchmarks_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
    return module
