"""Repository-wide pytest set-up: tutorials run as tests, and their kernels import the same ``halo`` as the tests."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

#: Tutorials that run the network (halo's default method, or its fine-tuning): where torch is not installed, as on the
#: Python 3.12 CI leg (docs/contributing.md), they are skipped with this reason. Any other tutorial runs everywhere.
TUTORIALS_NEEDING_TORCH = {"dask_cluster.ipynb", "fine_tune.ipynb", "xenium_crop.ipynb"}


def pytest_configure(config) -> None:
    """Collect notebooks with nbmake when it is installed, and make ``PYTHONPATH`` absolute for their kernels."""
    if config.pluginmanager.hasplugin("nbmake") and not config.option.nbmake:
        config.option.nbmake = True  # as --nbmake: every *.ipynb under the collected paths runs top to bottom
    # nbmake starts each kernel in the notebook's folder: a relative PYTHONPATH (``PYTHONPATH=src``) would no longer
    # point at this checkout there, and the kernel would import another installed halo.
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
