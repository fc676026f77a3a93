"""Repository-wide pytest set-up: notebook kernels import the same ``halo`` as the tests."""

from __future__ import annotations

import os
from pathlib import Path


def pytest_configure(config) -> None:
    """Make ``PYTHONPATH`` absolute for the notebook kernels that nbmake starts."""
    # nbmake starts each kernel in the notebook's folder: a relative PYTHONPATH (``PYTHONPATH=src``) would no longer
    # point at this checkout there, and the kernel would import another installed halo.
    entries = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    if entries:
        os.environ["PYTHONPATH"] = os.pathsep.join(str(Path(e).resolve()) for e in entries)
