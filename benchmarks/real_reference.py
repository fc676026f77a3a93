"""Scores against real references, through ``halo.tl.segment``'s written elements.

- The CosMx lung crop (``halo.datasets.cosmx_lung_crop``): 67 cells the vendor drew with membrane and cytoplasm
  stains, the one real whole-cell reference here. F1 at IoU >= 0.5 and mean matched IoU
  (``halo.metrics.match_instances``), the transcripts' ARI inside reference cells (``halo.metrics.assignment_scores``)
  and the cells' median solidity, for halo and for nuclear expansion by every distance of :data:`EXPANSIONS_UM` from
  the same nuclei: the whole curve, so that no distance is picked.

Used by ``benchmarks/accuracy.py``; run alone: ``PYTHONPATH=src python benchmarks/real_reference.py``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np

import halo

logger = logging.getLogger("halo.benchmarks.real_reference")

#: Nuclear expansions scored beside halo on the whole-cell reference (micrometres).
EXPANSIONS_UM = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
#: Cells smaller than this are left out of the median solidity (specks have no meaningful outline).
SOLIDITY_MIN_AREA_UM2 = 10.0


def cosmx_methods(*, nuclei_source: str = "image", weights: str | None = None) -> dict[str, Callable]:
    """``name -> run(sdata, key_added)``: halo and every expansion, from the same nuclei."""
    runs = {
        "halo": lambda sdata, key: halo.tl.segment(
            sdata, key_added=key, nuclei_source=nuclei_source, weights=weights, progress=False
        )
    }
    for um in EXPANSIONS_UM:
        runs[f"expansion_{um:g}um"] = lambda sdata, key, um=um: halo.tl.segment(
            sdata, method="expansion", expansion_um=um, nuclei_source=nuclei_source, key_added=key, progress=False
        )
    return runs


def score_cosmx(methods: dict[str, Callable] | None = None) -> list[dict]:
    """One row per method on the CosMx crop, and one for the reference itself (its solidity)."""
    sdata = halo.datasets.cosmx_lung_crop()
    keys = halo.datasets.COSMX_KEYS
    reference = np.asarray(halo.io.pyramid_levels(sdata.labels[keys["labels"]])[0])
    frame = sdata.points[keys["points"]].compute()
    matrix = halo.io.affine_between(sdata, keys["points"], keys["image"])
    um_per_px = halo.io.pixel_size_um(matrix)
    xy = np.floor(halo.io.apply_affine(matrix, frame[["x", "y"]].to_numpy(np.float64))).astype(np.int64)
    on_image = (xy[:, 0] >= 0) & (xy[:, 0] < reference.shape[1]) & (xy[:, 1] >= 0) & (xy[:, 1] < reference.shape[0])
    true_cell = np.zeros(len(frame), np.int64)
    true_cell[on_image] = reference[xy[on_image, 1], xy[on_image, 0]]
    in_reference = true_cell > 0  # the ARI is taken over the transcripts inside reference cells
    rows = [{"method": "reference", "n_cells": int(len(np.unique(reference)) - 1),
             "median_solidity": _median_solidity(reference, um_per_px)}]  # fmt: skip
    for name, run in (methods or cosmx_methods()).items():
        key = f"cosmx_{name}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", halo.io.SegmentationWarning)
            names = run(sdata, key)
        labels = _labels_of(sdata, names.boundaries, reference.shape)
        instance = halo.metrics.match_instances(reference, labels)
        assigned = sdata.points[keys["points"]][names.assignment_column].compute().to_numpy()
        assignment = halo.metrics.assignment_scores(true_cell[in_reference], assigned[in_reference])
        rows.append(
            {
                "method": name,
                "n_cells": instance.n_prediction,
                "f1": instance.f1,
                "mean_matched_iou": float(np.nan_to_num(instance.mean_matched_iou)),
                "ari": assignment.ari,
                "median_solidity": _median_solidity(labels, um_per_px),
            }
        )
    return rows


def _labels_of(sdata, shapes_key: str, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a shapes element (image pixels) into a label image of its index, by pixel centres."""
    from rasterio.features import rasterize

    shapes = sdata.shapes[shapes_key]
    if len(shapes) == 0:
        return np.zeros(shape, np.int32)
    return rasterize(((g, int(i)) for i, g in shapes.geometry.items()), out_shape=shape, dtype="int32")


def _median_solidity(labels: np.ndarray, um_per_px: float) -> float:
    from skimage.measure import regionprops

    values = [r.solidity for r in regionprops(labels) if r.area * um_per_px**2 > SOLIDITY_MIN_AREA_UM2]
    return float(np.median(values)) if values else float("nan")


def summary(rows: list[dict]) -> dict:
    """halo against the expansion curve: the best expansion by F1, and whether halo is above every distance."""
    expansions = [r for r in rows if r["method"].startswith("expansion_")]
    ours = next(r for r in rows if r["method"] == "halo")
    best = max(expansions, key=lambda r: r["f1"])
    best_ari = max(expansions, key=lambda r: r["ari"])
    return {
        "halo_f1": ours["f1"],
        "best_expansion": best["method"],
        "best_expansion_f1": best["f1"],
        "best_expansion_ari": best["ari"],
        "halo_above_every_expansion_f1": bool(all(ours["f1"] > r["f1"] for r in expansions)),
        "halo_ari_above_best_f1_expansion": bool(ours["ari"] > best["ari"]),
        "highest_ari_expansion": best_ari["method"],
        "halo_median_solidity": ours["median_solidity"],
    }


if __name__ == "__main__":
    import pandas as pd

    logging.basicConfig(level=logging.WARNING)
    result = score_cosmx()
    print(pd.DataFrame(result).round(3).to_string(index=False))  # noqa: T201
    print(summary(result))  # noqa: T201
