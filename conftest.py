"""Repository-wide pytest set-up: subprocesses (the docs build and its notebook kernels) import this checkout."""

from __future__ import annotations

import os
from pathlib import Path


def pytest_configure(config) -> None:
    """Make ``PYTHONPATH`` absolute, so that a kernel started in another folder imports the same ``halo``."""
    entries = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    if entries:
        os.environ["PYTHONPATH"] = os.pathsep.join(str(Path(e).resolve()) for e in entries)
