"""Repository-wide pytest set-up: tutorials run as tests, and their kernels import the same ``halo`` as the tests."""

from __future__ import annotations

import os
from pathlib import Path


def pytest_configure(config) -> None:
    """Collect notebooks with nbmake when it is installed, and make ``PYTHONPATH`` absolute for their kernels."""
    if config.pluginmanager.hasplugin("nbmake") and not config.option.nbmake:
        config.option.nbmake = True  # as --nbmake: every *.ipynb under the collected paths runs top to bottom
    # nbmake starts each kernel in the notebook's folder: a relative PYTHONPATH (``PYTHONPATH=src``) would no longer
    # point at this checkout there, and the kernel would import another installed halo.
    entries = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    if entries:
        os.environ["PYTHONPATH"] = os.pathsep.join(str(Path(e).resolve()) for e in entries)
