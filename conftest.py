"""Repository-wide pytest set-up: subprocesses (the docs build and its notebook kernels) import this checkout."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

#: Tutorials that run the network (halo's default method, or its fine-tuning): where torch is not installed, as on the
#: Python 3.12 CI leg (docs/contributing.md), they are skipped with this reason. Any other tutorial runs everywhere.
TUTORIALS_NEEDING_TORCH = {"dask_cluster.ipynb", "fine_tune.ipynb", "xenium_crop.ipynb"}


def pytest_configure(config) -> None:
    """Make ``PYTHONPATH`` absolute, so that a kernel started in another folder imports the same ``halo``."""
    entries = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    if entries:
        os.environ["PYTHONPATH"] = os.pathsep.join(str(Path(e).resolve()) for e in entries)


def pytest_collection_modifyitems(config, items) -> None:
    """Skip the tutorials of :data:`TUTORIALS_NEEDING_TORCH` where torch is not installed."""
    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(reason="needs torch (the network); the Python 3.12 CI leg runs without it")
    for item in items:
        if item.path.suffix == ".ipynb" and item.path.name in TUTORIALS_NEEDING_TORCH:
            item.add_marker(skip)
