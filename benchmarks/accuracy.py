"""Segmentation accuracy on simulated tissue with exact ground truth, and reference-free scores on the real crops.

Held-out seeds: every simulated field here uses a seed >= 1,000,000 (:data:`HELD_OUT_SEEDS`). Training of halo's
model draws its tissue from seeds below 1,000,000 only, so these fields are never seen in training.

Methods come from :data:`METHODS`, a registry ``name -> callable(sdata)`` whose callable runs
``halo.tl.segment(sdata, ..., key_added=name)``; add a learned model there (e.g. ``"halo"``) and rerun. Baselines:
nuclei only (``expansion_um=0``) and nuclear expansion by 2, 5, 8 and 10 um, all with nuclei detected from DAPI (what a
user gets without a nucleus segmentation).

Simulated tissue: every archetype (``halo.datasets.ARCHETYPES``) at each held-out seed on Xenium settings, scored
against the true cells: F1 at IoU >= 0.5, precision, recall, mean matched IoU, panoptic quality
(``halo.metrics.match_instances``), transcript-assignment ARI and accuracy (``halo.metrics.assignment_scores``, over
real-gene transcripts made by a cell). Real crops (Xenium breast, MERSCOPE brain): fraction of transcripts assigned,
transcripts per cell, cell area, MECR and cell-type purity (breast markers on Xenium, mouse brain lineage markers on
MERSCOPE), MECR and purity of nuclear expansion interpolated to halo's fraction assigned (equal capture), and a 95%
interval for halo's MECR minus expansion's there from resampling the nuclei (:func:`mecr_interval`).

Writes ``docs/benchmarks/accuracy.json`` and ``docs/benchmarks/accuracy.md``.
Run: ``PYTHONPATH=src python benchmarks/accuracy.py`` (a few minutes on 2 cores) or ``--quick`` (under a minute).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

import halo

sys.path.insert(0, str(Path(__file__).parent))
import real_reference  # noqa: E402

logger = logging.getLogger("halo.benchmarks.accuracy")
ROOT = Path(__file__).resolve().parents[1]

#: Seeds of the benchmark fields; training uses seeds below 1,000,000 only.
HELD_OUT_SEEDS = (1_000_001, 1_000_002)
FIELD_UM = 250.0
QUICK_FIELD_UM = 150.0
SCORES = ("f1", "precision", "recall", "mean_matched_iou", "panoptic_quality", "ari", "accuracy")


def _expansion(sdata, *, expansion_um: float, key_added: str, nuclei_key: str | None = None) -> None:
    halo.tl.segment(
        sdata, method="expansion", expansion_um=expansion_um, nuclei_key=nuclei_key, key_added=key_added,
        progress=False,
    )  # fmt: skip


def _halo(sdata, *, key_added: str, weights: str | None = None, nuclei_key: str | None = None) -> None:
    halo.tl.segment(sdata, method="halo", weights=weights, nuclei_key=nuclei_key, key_added=key_added, progress=False)


#: name -> callable(sdata) that segments and writes ``{name}_boundaries`` and ``{name}_cell_id`` on the points.
METHODS: dict[str, Callable] = {
    "halo": partial(_halo, key_added="halo"),
    "nuclei_only": partial(_expansion, expansion_um=0.0, key_added="nuclei_only"),
    "expansion_2um": partial(_expansion, expansion_um=2.0, key_added="expansion_2um"),
    "expansion_5um": partial(_expansion, expansion_um=5.0, key_added="expansion_5um"),
    "expansion_8um": partial(_expansion, expansion_um=8.0, key_added="expansion_8um"),
    "expansion_10um": partial(_expansion, expansion_um=10.0, key_added="expansion_10um"),
}

#: The same methods seeded with the simulator's true nuclei (simulated fields only): what the cells reach when the
#: nuclei are right, so that the gap to the rows without them is what nucleus detection costs.
TRUE_NUCLEI_METHODS: dict[str, Callable] = {
    "halo_true_nuclei": partial(_halo, key_added="halo_true_nuclei", nuclei_key="true_nuclei"),
    "expansion_5um_true_nuclei": partial(
        _expansion, expansion_um=5.0, key_added="expansion_5um_true_nuclei", nuclei_key="true_nuclei"
    ),
}

#: A marker counts as detected in a cell from this many molecules: broad real marker lists pick up strays, and at
#: one molecule every expanded cell on the Xenium crop is "mixed" (purity 0 for all methods).
PURITY_MIN_MARKER_COUNTS = 3

#: Breast marker types merged into major lineages, so subtypes of one lineage do not count as exclusive.
BREAST_GROUPS = {
    "B": "B/plasma",
    "Plasma": "B/plasma",
    "CD4Tconv/Treg": "T/NK",
    "CD8T/CD8Tex": "T/NK",
    "NK": "T/NK",
    "DC": "myeloid",
    "Mono/Macro": "myeloid",
    "Neutrophils": "myeloid",
    "Mast": "mast",
    "Endothelial": "endothelial",
    "Epithelial": "epithelial",
    "Malignant": "epithelial",
    "Fibroblasts": "stroma",
    "Myofibroblasts": "stroma",
    "SMC": "stroma",
}

#: Canonical markers of the major mouse brain lineages on the MERSCOPE receptor-map panel, each specific to one
#: lineage (the panel's many broadly expressed receptors are left out). Neuronal subclasses stay apart: a
#: glutamatergic and a GABAergic marker in one cell is a mixture too.
BRAIN_MARKERS = {
    "excitatory neuron": ["Slc17a7", "Slc17a6"],
    "inhibitory neuron": ["Gad1", "Slc32a1"],
    "astrocyte": ["Aqp4", "Gfap", "Aldh1l1", "Mlc1", "Slc25a18"],
    "oligodendrocyte": ["Gjc3", "Gpr37", "Sox8"],
    "OPC": ["Pdgfra", "Pcdh15"],
    "microglia": ["Cx3cr1", "P2ry12", "C1qa", "C1qb", "Csf1r", "Selplg"],
    "endothelial": ["Cldn5", "Flt1", "Slco1a4", "Emcn", "Tek"],
    "mural": ["Pdgfrb", "Myh11", "Kcnj8", "Abcc9"],
}

#: Nuclear expansions whose scores are interpolated to halo's capture on the real crops.
EXPANSIONS = ("nuclei_only", "expansion_2um", "expansion_5um", "expansion_8um", "expansion_10um")


def score_simulated(archetype: str, seed: int, size_um: float, methods: dict[str, Callable]) -> list[dict]:
    """Segment one simulated field with every method and score it against the truth."""
    from halo.datasets._simulate._spatialdata import ELEMENT_NAMES

    sdata = halo.datasets.simulate(archetype, size_um=size_um, seed=seed, platform="xenium")
    names = ELEMENT_NAMES["xenium"]
    truth = np.asarray(sdata["true_cells"].data)
    rows = []
    for name, run in methods.items():
        start = time.perf_counter()
        try:
            run(sdata)
        except ValueError as error:  # e.g. no nuclei found at all: score as an empty prediction
            logger.warning("%s on %s seed %d: %s", name, archetype, seed, error)
        seconds = time.perf_counter() - start
        frame = sdata[names["points"]].compute()
        column = f"{name}_cell_id"
        predicted_ids = frame[column].to_numpy() if column in frame else np.zeros(len(frame), dtype=np.int64)
        shapes = f"{name}_boundaries"
        prediction = real_reference.labels_of(sdata, shapes, truth.shape) if shapes in sdata else np.zeros_like(truth)
        instance = halo.metrics.match_instances(truth, prediction)
        real_gene = ~frame["feature_name"].astype(str).str.fullmatch(halo.io.DEFAULT_CONTROL_PATTERN, case=False)
        made = real_gene.to_numpy() & (frame["true_cell_id"].to_numpy() > 0)
        assignment = halo.metrics.assignment_scores(frame["true_cell_id"].to_numpy()[made], predicted_ids[made])
        rows.append(
            {
                "archetype": archetype,
                "seed": seed,
                "method": name,
                "n_true": instance.n_reference,
                "n_predicted": instance.n_prediction,
                "f1": instance.f1,
                "precision": instance.precision,
                "recall": instance.recall,
                "mean_matched_iou": _finite(instance.mean_matched_iou),
                "panoptic_quality": instance.panoptic_quality,
                "ari": assignment.ari,
                "accuracy": assignment.accuracy,
                "seconds": round(seconds, 2),
            }
        )
    return rows


def _finite(value: float) -> float:
    return 0.0 if not np.isfinite(value) else float(value)


def score_real(methods: dict[str, Callable], *, merscope: bool = True) -> tuple[list[dict], list[dict]]:
    """Reference-free scores of every method on the real crops, and :func:`mecr_interval` of halo on each."""
    from halo.datasets import breast_markers, merscope_brain_crop, merscope_keys, xenium_breast_crop

    markers = halo.metrics.merge_marker_types(breast_markers(as_lists=True)["pos"], BREAST_GROUPS)
    crops = [("xenium_breast", xenium_breast_crop, "morphology_focus", "transcripts", markers)]
    if merscope:
        keys = merscope_keys(0)
        crops.append(("merscope_brain", partial(merscope_brain_crop, 0), keys["image"], keys["points"], BRAIN_MARKERS))
    rows, intervals = [], []
    for crop, loader, _image_key, points_key, crop_markers in crops:
        sdata = loader(multiscale=False)
        for name, run in methods.items():
            start = time.perf_counter()
            run(sdata)
            seconds = time.perf_counter() - start
            ids = sdata[points_key][f"{name}_cell_id"].compute().to_numpy()
            table = sdata[f"{name}_table"]
            row = {
                "crop": crop,
                "method": name,
                "n_cells": int(table.n_obs),
                "fraction_assigned": halo.metrics.fraction_assigned(ids),
                "transcripts_per_cell_median": float(np.median(table.obs["transcript_count"])),
                "cell_area_median_um2": float(np.median(table.obs["area_um2"])),
                "seconds": round(seconds, 2),
            }
            if crop_markers is not None:
                row["mecr"] = halo.metrics.mecr(table, crop_markers, layer="counts")
                row["purity"] = halo.metrics.cell_type_purity(
                    table, crop_markers, layer="counts", min_marker_counts=PURITY_MIN_MARKER_COUNTS
                ).purity
            rows.append(row)
            logger.info("%s %s: %s", crop, name, {k: v for k, v in row.items() if k not in ("crop", "method")})
        if crop_markers is not None and "halo" in methods:
            tables = {name: sdata[f"{name}_table"] for name in methods}
            captured = {r["method"]: r["fraction_assigned"] for r in rows if r["crop"] == crop}
            intervals.append({"crop": crop, **mecr_interval(tables, captured, crop_markers)})
    return rows, intervals


BOOTSTRAP_RESAMPLES = 300


def mecr_interval(tables: dict, captured: dict[str, float], markers, *, method: str = "halo", seed: int = 0) -> dict:
    """``method``'s MECR minus expansion's at its capture, with a 95% interval from resampling the nuclei.

    Every method grows its cells from the same nuclei, so cells with the same key are one nucleus's: each resample
    draws nuclei and takes their cells in every method together (a paired bootstrap). The captures stay fixed (each
    is a fraction of 10^5-10^6 transcripts). Beyond the largest expansion the difference is ``nan``.
    """
    curve = [name for name in EXPANSIONS if name in tables]
    keys = np.asarray(sorted(set.intersection(*(set(tables[n].obs_names) for n in [method, *curve]))), dtype=object)
    x = np.array([captured[n] for n in curve])
    order = np.argsort(x)
    if len(curve) < 2 or not x.min() <= captured[method] <= x.max():  # no curve to compare with there
        nan = float("nan")
        return {"mecr_minus_expansion": nan, "low_95": nan, "high_95": nan, "cells": keys.size}

    def difference(sample) -> float:
        mecr = {n: halo.metrics.mecr(tables[n][sample], markers, layer="counts") for n in [method, *curve]}
        y = np.array([mecr[n] for n in curve])
        return mecr[method] - float(np.interp(captured[method], x[order], y[order]))

    rng = np.random.default_rng(seed)
    resampled = [difference(rng.choice(keys, keys.size)) for _ in range(BOOTSTRAP_RESAMPLES)]
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {"mecr_minus_expansion": difference(keys), "low_95": float(low), "high_95": float(high), "cells": keys.size}


def at_equal_capture(real: list[dict], method: str = "halo") -> list[dict]:
    """Per crop: ``method``'s MECR and purity beside nuclear expansion's, interpolated linearly to its capture.

    Expansion traces a curve of MECR (and purity) against the fraction of transcripts assigned; a method beats it when
    it lies below that curve (above, for purity) at its own capture. Beyond the largest expansion nothing is
    interpolated (``nan``).
    """
    frame = pd.DataFrame(real)
    if "mecr" not in frame:
        return []
    out = []
    for crop, rows in frame.groupby("crop", sort=False):
        ours = rows[rows["method"] == method]
        curve = rows[rows["method"].isin(EXPANSIONS)].dropna(subset=["mecr"]).sort_values("fraction_assigned")
        if ours.empty or len(curve) < 2 or ours["mecr"].isna().all():
            continue
        capture = float(ours["fraction_assigned"].iloc[0])
        x = curve["fraction_assigned"].to_numpy()
        inside = x[0] <= capture <= x[-1]
        row = {"crop": crop, "fraction_assigned": capture}
        for score in ("mecr", "purity"):
            row[f"{method}_{score}"] = float(ours[score].iloc[0])
            row[f"expansion_{score}"] = float(np.interp(capture, x, curve[score])) if inside else float("nan")
        row["fewer_mecr"] = bool(row[f"{method}_mecr"] < row["expansion_mecr"])
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, smaller fields, Xenium crop only")
    parser.add_argument("--no-real", action="store_true", help="skip the real crops")
    parser.add_argument("--weights", help="score these weights as 'halo' instead of the shipped ones")
    parser.add_argument("--archetypes", help="comma-separated archetypes (default: all)")
    parser.add_argument("--name", default="accuracy", help="results go to docs/benchmarks/NAME.json and .md")
    parser.add_argument("--title", help="subtitle of the results page")
    args = parser.parse_args(argv)
    if args.weights:  # every run of the network, with or without the true nuclei, scores these weights
        for methods in (METHODS, TRUE_NUCLEI_METHODS):
            methods.update({k: partial(f, weights=args.weights) for k, f in methods.items() if f.func is _halo})
    simulated_methods = {**METHODS, **TRUE_NUCLEI_METHODS}
    archetypes = args.archetypes.split(",") if args.archetypes else halo.datasets.ARCHETYPES
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("halo.tl", "halo.io", "halo.methods", "halo._pipeline", "halo.datasets", "distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    seeds = HELD_OUT_SEEDS[:1] if args.quick else HELD_OUT_SEEDS
    size = QUICK_FIELD_UM if args.quick else FIELD_UM
    start = time.perf_counter()
    simulated = []
    for archetype in archetypes:
        for seed in seeds:
            rows = score_simulated(archetype, seed, size, simulated_methods)
            simulated += rows
            logger.info("%s seed %d: %s", archetype, seed, {r["method"]: round(r["f1"], 3) for r in rows})
    real, intervals, whole_cells, nuclei_dsb, nuclei_xenium = [], [], [], [], []
    if not args.no_real:
        try:
            real, intervals = score_real(METHODS, merscope=not args.quick)
            whole_cells = real_reference.score_cosmx(real_reference.cosmx_methods(weights=args.weights))
            nuclei_dsb = real_reference.score_dsb_nuclei()
            nuclei_xenium = real_reference.score_xenium()
        except FileNotFoundError as error:
            logger.warning("real crops skipped: %s", error)
    result = {
        "seeds": list(seeds),
        "field_um": size,
        "platform": "xenium",
        "methods": list(simulated_methods),
        "simulated": simulated,
        "real": real,
        "real_mecr_intervals": intervals,
        "cosmx_whole_cells": whole_cells,
        "cosmx_summary": real_reference.summary(whole_cells) if whole_cells else {},
        "nuclei_dsb2018_held_out": nuclei_dsb,
        "nuclei_xenium": nuclei_xenium,
        "runtime_s": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}",
        "quick": args.quick,
        "weights": args.weights or "shipped",
        "title": args.title,
    }
    _write(result, args.name)
    return result


def _write(result: dict, name: str) -> None:
    out = ROOT / "docs" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    sim = pd.DataFrame(result["simulated"])
    overall = sim.groupby("method", sort=False)[list(SCORES)].mean()
    f1 = sim.pivot_table(index="archetype", columns="method", values="f1", sort=False)[list(result["methods"])]
    ari = sim.pivot_table(index="archetype", columns="method", values="ari", sort=False)[list(result["methods"])]
    lines = [
        "# Accuracy benchmark" + (f": {result['title']}" if result.get("title") else ""),
        "",
        f"Weights scored as `halo`: {result['weights']}.",
        "",
        f"Produced by `benchmarks/accuracy.py` (all numbers in `docs/benchmarks/{name}.json`).",
        f"Simulated fields: every archetype, {result['field_um']:.0f} x {result['field_um']:.0f} um on Xenium"
        " settings,",
        f"held-out seeds {', '.join(map(str, result['seeds']))} (the model's training uses seeds below 1,000,000"
        " only).",
        "Baselines use nuclei detected by halo from DAPI. Scores against the true cells: F1 / precision / recall at",
        "IoU >= 0.5, mean matched IoU, panoptic quality, and transcript-assignment ARI and accuracy over the",
        "transcripts made by cells. `*_true_nuclei`: the same method seeded with the simulator's true nuclei",
        "(`nuclei_key='true_nuclei'`), what the cells reach when the nuclei are right; the gap to the row without",
        "it is what nucleus detection costs.",
        f"Run time {result['runtime_s']:.0f} s on {result['machine']}.",
        "",
        "## Simulated tissue, mean over archetypes and seeds",
        "",
        _markdown(overall),
        "",
        "## F1 at IoU 0.5 per archetype",
        "",
        _markdown(f1),
        "",
        "## Transcript-assignment ARI per archetype",
        "",
        _markdown(ari),
        "",
    ]
    if result.get("cosmx_whole_cells"):
        summary = result["cosmx_summary"]
        lines += [
            "## Real whole cells: the CosMx lung crop",
            "",
            "67 cells the vendor drew with membrane and cytoplasm stains (`halo.datasets.cosmx_lung_crop`), the one",
            "real whole-cell reference here: F1 at IoU 0.5, mean matched IoU, the transcripts' ARI inside reference",
            "cells and the median solidity, for halo and for nuclear expansion at every distance from the same nuclei",
            "(`benchmarks/real_reference.py`). With 67 cells, one cell moves F1 by about 0.015.",
            "",
            _markdown(pd.DataFrame(result["cosmx_whole_cells"]).set_index("method")),
            "",
            f"Best expansion by F1: {summary['best_expansion']} ({summary['best_expansion_f1']:.3f}); halo "
            f"{summary['halo_f1']:.3f}, above every expansion: {summary['halo_above_every_expansion_f1']}; halo's "
            f"ARI above that expansion's: {summary['halo_ari_above_best_f1_expansion']}.",
            "",
        ]
    if result.get("nuclei_dsb2018_held_out"):
        lines += [
            "## Real nuclei",
            "",
            "Held-out hand-annotated DSB2018 nuclei (never trained or tuned on), each image given the pixel size that",
            "makes its median nucleus 7 um across, segmented by `halo.tl.segment` (nuclei alone) with each nucleus",
            "source and scored from the written nuclei: pooled F1, precision and recall at IoU 0.5, mean matched IoU.",
            "",
            _markdown(pd.DataFrame(result["nuclei_dsb2018_held_out"]).set_index("nuclei_source")),
            "",
            "Against the Xenium crop's own nuclei (`benchmarks/nuclei.py` explains the columns): `nucleus_f1` is the",
            "nucleus-by-nucleus agreement.",
            "",
            _markdown(pd.DataFrame(result["nuclei_xenium"]).set_index("setting")),
            "",
        ]
    if result["real"]:
        real = pd.DataFrame(result["real"]).set_index(["crop", "method"]).drop(columns="seconds")
        lines += [
            "## Real crops, without a reference",
            "",
            "Fraction of transcripts assigned, transcripts per cell and cell area grow with expansion; MECR (lower is",
            "better) and purity (higher is better; a marker counts from 3 molecules) over the breast marker table,",
            "merged into major lineages on Xenium, and over the mouse brain lineage markers on MERSCOPE",
            "(`BRAIN_MARKERS`), show what the extra capture costs. A method is better only when it wins on both, or",
            "on one at equal value of the other.",
            "",
            _markdown(real),
            "",
        ]
        equal = at_equal_capture(result["real"])
        if equal:
            lines += [
                "halo against nuclear expansion at equal capture: expansion's MECR and purity interpolated linearly",
                "between the two expansions whose fractions assigned bracket halo's.",
                "",
                _markdown(pd.DataFrame(equal).set_index("crop")),
                "",
            ]
        if result.get("real_mecr_intervals"):
            lines += [
                f"halo's MECR minus expansion's at equal capture, with a 95% interval from {BOOTSTRAP_RESAMPLES}",
                "resamples of the nuclei (each resample takes a nucleus's cell in every method together): an interval",
                "wholly below 0 says halo's cells mix exclusive markers less than expansion's, beyond chance.",
                "",
                _markdown(pd.DataFrame(result["real_mecr_intervals"]).set_index("crop"), digits=4),
                "",
            ]
    (out / f"{name}.md").write_text("\n".join(lines))
    logger.info("wrote docs/benchmarks/%s.md\n%s", name, _markdown(overall))


def _markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    frame = frame.reset_index()
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


if __name__ == "__main__":
    main()
