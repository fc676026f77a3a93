"""Every code block of the README and of the getting-started page runs as written.

The Python blocks of a page run in order in one namespace, as a reader runs them in a notebook, in a fresh folder;
the lines of its shell blocks that call the ``halo`` command line run there too (the installation and docs-build
lines are what CI and ``tests/test_docs.py`` run). A block that reads the shared real data is skipped when that is
absent, as every test that reads it is.
"""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import matplotlib
import pytest

import halo
from halo.__main__ import main

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/getting_started.md"]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(page: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer((ROOT / page).read_text())]


def _needs_shared_data(code: str) -> bool:
    return "shared_data_dir" in code or "xenium_breast_crop" in code


def _shared_data_present() -> bool:
    try:
        halo.datasets.shared_data_dir()
    except FileNotFoundError:
        return False
    return True


@pytest.mark.parametrize("page", PAGES)
def test_every_code_block_runs_as_written(page, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    blocks = _blocks(page)
    assert [kind for kind, _ in blocks if kind not in ("python", "bash")] == []
    ran, namespace = 0, {}
    for kind, code in blocks:
        if kind == "python":
            if _needs_shared_data(code) and not _shared_data_present():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", halo.io.SegmentationWarning)
                exec(compile(code, page, "exec"), namespace)  # noqa: S102
            plt.close("all")
            ran += 1
            continue
        for line in code.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith("halo "):
                assert main(shlex.split(command)[1:]) == 0, command
                ran += 1
    assert ran >= 3
    if "crop" in namespace:  # getting-started's recipe from the vendor's raw files ran on the real Xenium crop
        crop = namespace["crop"]
        assert len(crop["transcripts"]) == len(halo.datasets.xenium_breast_crop()["transcripts"]) == 186_146
        assigned, kept = halo.io.assigned_counts(crop, halo.io.read_segmentation(crop, "halo"))
        assert crop["halo_table"].n_obs == len(crop["halo_boundaries"]) > 500
        assert 0.5 * kept < assigned <= kept
