"""The documentation builds without a single warning (``-W``), as CI builds it, running the tutorials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import NEEDS_TORCH

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    pytest.importorskip("sphinx_book_theme")
    # the API pages document halo.model and halo.training, which import torch (the 3.12 CI leg runs without it)
    pytest.importorskip("torch", reason=NEEDS_TORCH)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
               "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    assert result.returncode == 0, f"docs build failed:\n{result.stderr[-5000:]}"
    html = tmp_path / "html"
    api = (html / "generated" / "api.html").read_text()
    # every namespace's exports are documented, each on its own page
    for name in ("halo.tl.segment", "halo.pl.segmentation", "halo.io.vendor_options", "halo.datasets.synthetic",
                 "halo.metrics.match_instances"):  # fmt: skip
        assert name in api and (html / "generated" / f"{name}.html").exists()
    page = (html / "generated" / "halo.tl.segment.html").read_text()
    assert "autofunction" not in page and "Parameters" in page and "key_added" in page  # rendered, not literal
    index = (html / "index.html").read_text()
    for page in ("getting_started", "interop", "contributing", "tutorials/xenium_crop", "tutorials/dask_cluster",
                 "benchmarks/xenium_expansion"):  # fmt: skip
        assert f'href="{page}.html"' in index, page
    # the tutorials ran in the build (an error in one fails it) and their pages show what they printed and drew
    for notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
        tutorial = (html / "tutorials" / f"{notebook.stem}.html").read_text()
        assert "cell_output" in tutorial and "Traceback" not in tutorial, notebook.stem
    assert "<img" in (html / "tutorials" / "xenium_crop.html").read_text()  # its figures
