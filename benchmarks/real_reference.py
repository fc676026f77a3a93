"""Scores against real references, through ``halo.tl.segment``'s written elements.

- The CosMx lung crop (``halo.datasets.cosmx_lung_crop``): 67 cells the vendor drew with membrane and cytoplasm
  stains, the one real whole-cell reference here. F1 at IoU >= 0.5 and mean matched IoU
  (``halo.metrics.match_instances``), the transcripts' ARI inside reference cells (``halo.metrics.assignment_scores``)
  and the cells' median solidity, for halo and for nuclear expansion by every distance of :data:`EXPANSIONS_UM` from
  the same nuclei: the whole curve, so that no distance is picked.

- The held-out hand-annotated nuclei of DSB2018 (the images ``halo.training``'s split holds out, never trained or
  tuned on), each image given the pixel size that makes its median annotated nucleus 7 um across, segmented by
  ``halo.tl.segment`` (nuclei alone: ``method="expansion", expansion_um=0``) with each nucleus source, its written
  nuclei drawn back onto the image's pixels and matched to the annotations: pooled F1, precision and recall at IoU
  >= 0.5 (TP, FP, FN summed over images) and mean matched IoU.

Used by ``benchmarks/accuracy.py``; run alone: ``PYTHONPATH=src python benchmarks/real_reference.py``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

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
        labels = labels_of(sdata, names.boundaries, reference.shape)
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


def labels_of(sdata, shapes_key: str, shape: tuple[int, int]) -> np.ndarray:
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


#: Nucleus sources scored on the held-out DSB2018 nuclei and against Xenium's nuclei.
NUCLEUS_SOURCES = ("image", "learned")
#: Transcripts a nucleus must hold of another to count in the nucleus-by-nucleus comparison with Xenium's.
MIN_SHARED = 5
#: Share of each other's transcripts that two matched nuclei hold.
MATCH_SHARE = 0.8


def score_dsb_nuclei(sources: tuple[str, ...] = NUCLEUS_SOURCES) -> list[dict]:
    """Pooled scores of each nucleus source on the held-out DSB2018 images, through ``halo.tl.segment``."""
    from halo.training._nuclei_data import DSB_FILE, load_dsb
    from halo.training._nuclei_train import pooled_scores

    images = load_dsb(halo.datasets.shared_data_dir() / DSB_FILE, splits=("held_out",))
    found = {source: [] for source in sources}
    for item in images:
        sdata = _annotated_image(item)
        for source in sources:
            with warnings.catch_warnings():  # nuclei alone, and no transcripts: the sanity warnings say so
                warnings.simplefilter("ignore", halo.io.SegmentationWarning)
                names = halo.tl.segment(
                    sdata, method="expansion", expansion_um=0.0, nuclei_source=source, um_per_px=item.um_per_px,
                    key_added=f"dsb_{source}", progress=False,
                )  # fmt: skip
            found[source].append(labels_of(sdata, names.nuclei, item.labels.shape))
    references = [item.labels for item in images]
    rows = []
    for source, labels in found.items():
        pooled = pooled_scores(references, labels)
        rows.append(
            {"nuclei_source": source, "images": len(images), "nuclei": pooled["tp"] + pooled["fn"]}
            | {key: pooled[key] for key in ("f1", "precision", "recall", "mean_matched_iou")}
        )
    return rows


def _annotated_image(item):
    """A SpatialData of one annotated image (``"dapi"``, pixels as ``"global"``) and no transcripts."""
    from spatialdata import SpatialData
    from spatialdata.models import Image2DModel, PointsModel
    from spatialdata.transformations import Identity

    image = Image2DModel.parse(item.image[None], dims=("c", "y", "x"), c_coords=["DAPI"],
                               transformations={"global": Identity()})  # fmt: skip
    empty = pd.DataFrame({"x": np.zeros(0), "y": np.zeros(0), "gene": pd.Categorical([], categories=["none"])})
    points = PointsModel.parse(empty, coordinates={"x": "x", "y": "y"}, feature_key="gene",
                               transformations={"global": Identity()})  # fmt: skip
    return SpatialData(images={"dapi": image}, points={"transcripts": points})


def score_xenium(settings: dict[str, dict] | None = None) -> list[dict]:
    """Agreement of each setting's nuclei with the instrument's own, over the real Xenium crop's transcripts.

    ``settings``: name -> options of ``halo.tl.segment`` (by default each nucleus source with its defaults).
    """
    sdata = halo.datasets.xenium_breast_crop(multiscale=False)
    rows = []
    for setting, options in (settings or {s: {"nuclei_source": s} for s in NUCLEUS_SOURCES}).items():
        segment_nuclei(sdata, options)
        points = sdata["transcripts"][["overlaps_nucleus", "cell_id", "nuclei_cell_id"]].compute()
        vendor = points["overlaps_nucleus"].to_numpy().astype(bool)
        ours = points["nuclei_cell_id"].to_numpy() > 0
        shared = points[vendor & ours]
        both = float(len(shared))
        precision, recall = both / max(ours.sum(), 1), both / max(vendor.sum(), 1)
        rows.append(
            {
                "setting": setting, "n_nuclei": int(sdata["nuclei_table"].n_obs), "precision": precision,
                "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-12),
                "fraction_in_nucleus": float(ours.mean()), "fraction_in_xenium_nucleus": float(vendor.mean()),
                "nucleus_area_median_um2": float(np.median(sdata["nuclei_table"].obs["area_um2"])),
                **_nucleus_by_nucleus(shared["nuclei_cell_id"].to_numpy(), shared["cell_id"].to_numpy()),
            }
        )  # fmt: skip
    return rows


def segment_nuclei(sdata, options: dict) -> None:
    """Nuclei alone, with ``options`` of ``halo.tl.segment``: expansion by 0 um, written as ``nuclei_*``."""
    with warnings.catch_warnings():  # nuclei alone leave most transcripts unassigned, as they should
        warnings.simplefilter("ignore", halo.io.SegmentationWarning)
        halo.tl.segment(sdata, method="expansion", expansion_um=0.0, key_added="nuclei", progress=False, **options)


def _nucleus_by_nucleus(ours: np.ndarray, vendor: np.ndarray) -> dict:
    """Matched, merged and split nuclei over transcripts in both a detected (``ours``) and a vendor nucleus."""
    pairs = pd.DataFrame({"ours": ours, "vendor": vendor}).value_counts().rename("n").reset_index()
    share_of_vendor = pairs["n"] / pairs.groupby("vendor")["n"].transform("sum")
    share_of_ours = pairs["n"] / pairs.groupby("ours")["n"].transform("sum")
    matched = int(
        ((pairs["n"] >= MIN_SHARED) & (share_of_vendor >= MATCH_SHARE) & (share_of_ours >= MATCH_SHARE)).sum()
    )
    held = pairs[pairs["n"] >= MIN_SHARED]
    n_vendor = int((pairs.groupby("vendor")["n"].sum() >= MIN_SHARED).sum())
    n_ours = int((pairs.groupby("ours")["n"].sum() >= MIN_SHARED).sum())
    return {
        "matched_xenium_nuclei": matched,
        "nucleus_f1": 2 * matched / max(n_vendor + n_ours, 1),
        "merged": int((held.groupby("ours").size() >= 2).sum()),
        "split_xenium_nuclei": int((held.groupby("vendor").size() >= 2).sum()),
    }


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
    logging.basicConfig(level=logging.WARNING)
    result = score_cosmx()
    print(pd.DataFrame(result).round(3).to_string(index=False))  # noqa: T201
    print(summary(result))  # noqa: T201
    print(pd.DataFrame(score_dsb_nuclei()).round(3).to_string(index=False))  # noqa: T201
