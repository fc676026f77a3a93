from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import shapely

import halo
from halo._tiling import bin_factor

#: The Python 3.12 CI leg runs without torch (its PyPI wheel there is a several-GB CUDA download; docs/contributing.md).
HAS_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_TORCH = "needs torch (the network); the Python 3.12 CI leg runs without it"


def _skip_if_torch_is_what_is_missing(error: ModuleNotFoundError) -> None:
    if not HAS_TORCH and error.name is not None and error.name.split(".")[0] == "torch":
        pytest.skip(NEEDS_TORCH)


# Without torch, a test or fixture that reaches the network (``method="halo"``, the default, or ``nuclei_source=
# "model"``) fails on halo's lazy ``import torch``: these two hooks turn exactly that error into a skip with the reason
# above, in the fixtures (setup) and in the test itself (call). Any other error, and any error where torch is
# installed, fails as before: nothing else is skipped.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    try:
        return (yield)
    except ModuleNotFoundError as error:
        _skip_if_torch_is_what_is_missing(error)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except ModuleNotFoundError as error:
        _skip_if_torch_is_what_is_missing(error)
        raise


@pytest.fixture
def small_sdata():
    """A fresh small synthetic object (about 100 cells); cheap enough to build per test."""
    return halo.datasets.synthetic(size_um=(110.0, 90.0), seed=3)


@pytest.fixture(scope="session", params=["expansion", "halo"])
def segmented(request):
    """A synthetic object segmented once per method with default settings, for tests that only read it."""
    sdata = halo.datasets.synthetic(seed=0)
    halo.tl.segment(sdata, method=request.param, progress=False)
    return sdata


def is_control(genes) -> np.ndarray:
    """Boolean mask of the control probes among gene names (halo's default control pattern)."""
    import pandas as pd

    return pd.Series(genes).astype(str).str.fullmatch(halo.io.DEFAULT_CONTROL_PATTERN, case=False).to_numpy()


def transcripts_in_pixels(sdata, points_key="transcripts", image_key="dapi"):
    """Pandas frame of the points with their image-pixel coordinates in ``px``, ``py``."""
    frame = sdata[points_key].compute()
    matrix = halo.io.affine_between(sdata, points_key, image_key)
    xy = frame[["x", "y"]].to_numpy(np.float64)
    pixels = halo.io.apply_affine(matrix, xy)
    frame["px"], frame["py"] = pixels[:, 0], pixels[:, 1]
    return frame


def grid_pixel_centres(frame, um_per_px=0.2125):
    """Shapely points at the centre of the working-grid pixel holding each row's ``px``, ``py``: the pixel that
    decides a transcript's cell (every method works on the same grid, :func:`halo._tiling.bin_factor`)."""
    side = bin_factor(um_per_px)
    return shapely.points(*[(np.floor(frame[c].to_numpy() / side) + 0.5) * side for c in ("px", "py")])
