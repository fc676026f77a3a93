"""Nuclei detected from DAPI against the true nuclei (simulated, held-out seeds) and Xenium's own (real crop).

Every cell of halo grows from a nucleus, so the nuclei bound what any method can reach. Compared: the nucleus
network (``nuclei_source="learned"``, trained on hand-annotated DSB2018 nuclei) and the classical detector
(``nuclei_source="image"``) with three settings of ``nucleus_options``: its default (each nucleus ends at half its
own local maximum, flat haze dropped; touching nuclei split at dips of intensity plus depth inside their outline),
the split on intensity dips alone and ``local_fraction=0`` (the slide-wide threshold alone).

- Simulated tissue: every archetype at the held-out seeds of ``benchmarks/accuracy.py`` (200 um Xenium fields);
  F1 / precision / recall at IoU >= 0.5 and mean matched IoU against ``true_nuclei``.
- Real Xenium breast crop: the instrument flags each transcript that overlaps its own nucleus segmentation
  (``overlaps_nucleus``); precision / recall / F1 of "inside a detected nucleus" against that flag, the fraction of
  transcripts inside a nucleus, and the number of nuclei. Nucleus by nucleus over the transcripts inside both
  segmentations: a detected and a Xenium nucleus match when each holds at least 80% of the other's transcripts
  (and at least 5); merged nuclei hold at least 5 transcripts of each of two or more Xenium nuclei, split Xenium
  nuclei the converse.

Writes ``docs/benchmarks/nuclei.json`` and ``docs/benchmarks/nuclei.md``.
Run: ``PYTHONPATH=src python benchmarks/nuclei.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import halo

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import HELD_OUT_SEEDS, _markdown  # noqa: E402
from real_reference import MATCH_SHARE, MIN_SHARED, labels_of, score_xenium, segment_nuclei  # noqa: E402

logger = logging.getLogger("halo.benchmarks.nuclei")
ROOT = Path(__file__).resolve().parents[1]
FIELD_UM = 200.0
SETTINGS = {
    "learned": {"nuclei_source": "learned"},
    "classical": {"nuclei_source": "image"},
    "classical, intensity split only": {
        "nuclei_source": "image",
        "nucleus_options": {"split_shape_weight": 0.0, "split_contrast": 0.01},
    },
    "classical, global threshold only": {"nuclei_source": "image", "nucleus_options": {"local_fraction": 0.0}},
}


def score_simulated() -> list[dict]:
    """Nucleus F1 of each setting on every archetype and held-out seed."""
    rows = []
    for archetype in halo.datasets.ARCHETYPES:
        for seed in HELD_OUT_SEEDS:
            sdata = halo.datasets.simulate(archetype, size_um=FIELD_UM, seed=seed, platform="xenium")
            truth = np.asarray(sdata["true_nuclei"].data)
            for setting, options in SETTINGS.items():
                segment_nuclei(sdata, options)
                match = halo.metrics.match_instances(truth, labels_of(sdata, "nuclei_boundaries", truth.shape))
                rows.append(
                    {
                        "archetype": archetype, "seed": seed, "setting": setting, "f1": match.f1,
                        "precision": match.precision, "recall": match.recall,
                        "mean_matched_iou": float(np.nan_to_num(match.mean_matched_iou)),
                    }
                )  # fmt: skip
    return rows


def main() -> dict:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("halo.tl", "halo.io", "halo.methods", "halo._pipeline", "halo.datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    start = time.perf_counter()
    simulated = score_simulated()
    try:
        real = score_xenium(SETTINGS)
    except FileNotFoundError as error:
        logger.warning("real crop skipped: %s", error)
        real = []
    result = {
        "seeds": list(HELD_OUT_SEEDS),
        "field_um": FIELD_UM,
        "settings": SETTINGS,
        "simulated": simulated,
        "xenium": real,
        "runtime_s": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}",
    }
    _write(result)
    return result


def _write(result: dict) -> None:
    out = ROOT / "docs" / "benchmarks"
    (out / "nuclei.json").write_text(json.dumps(result, indent=1))
    sim = pd.DataFrame(result["simulated"])
    means = sim.groupby("setting", sort=False)[["f1", "precision", "recall", "mean_matched_iou"]].mean()
    per = sim.pivot_table(index="archetype", columns="setting", values="f1", sort=False)
    lines = [
        "# Nucleus detection benchmark",
        "",
        "Produced by `benchmarks/nuclei.py` (numbers in `docs/benchmarks/nuclei.json`). Nuclei from DAPI with",
        "`halo.tl.segment(..., method='expansion', expansion_um=0)`: the nucleus network (`nuclei_source='learned'`,",
        "trained on hand-annotated DSB2018 nuclei, `docs/model/nucleus_net_trials.md`) and the classical detector",
        "(`nuclei_source='image'`) with three settings of `nucleus_options`: its default (each nucleus ends at half",
        "its own local maximum; flat haze is dropped; touching nuclei are split at dips of intensity plus depth",
        "inside their joint outline), the split on intensity dips alone (`split_shape_weight=0, split_contrast=0.01`)",
        "and `local_fraction=0` (the slide-wide threshold alone). The real crops were also used to pick the classical",
        "detector's `local_fraction` (0.5), `local_um` (6) and split settings among a few values, with simulated",
        "training seeds; the simulated seeds below were not. Held-out DSB2018 nuclei: `docs/benchmarks/nuclei_dsb.md`.",
        f"Run time {result['runtime_s']:.0f} s on {result['machine']}.",
        "",
        f"## Simulated tissue: against the true nuclei (held-out seeds {result['seeds']}, {result['field_um']:.0f} um"
        " Xenium fields)",
        "",
        "Mean over archetypes and seeds; F1, precision and recall at IoU >= 0.5:",
        "",
        _markdown(means.round(3)),
        "",
        "F1 per archetype:",
        "",
        _markdown(per.round(3)),
        "",
    ]
    if result["xenium"]:
        lines += [
            "## Real Xenium breast crop: against the instrument's own nuclei",
            "",
            "Each transcript inside a detected nucleus or not, against Xenium's `overlaps_nucleus` flag (precision:",
            "of the transcripts in our nuclei, the share in Xenium's; recall: the converse); then nucleus by nucleus",
            f"over the transcripts in both: a detected and a Xenium nucleus match when each holds >= {MATCH_SHARE:.0%}",
            f"of the other's transcripts (and >= {MIN_SHARED}); `nucleus_f1` counts the nuclei holding >= {MIN_SHARED}",
            f"such transcripts; merged: detected nuclei holding >= {MIN_SHARED} of each of several Xenium nuclei;",
            "split: Xenium nuclei spread over several detected ones so. Xenium's nuclei are the instrument's own",
            "segmentation, a reference, not the truth.",
            "",
            _markdown(pd.DataFrame(result["xenium"]).set_index("setting").round(3)),
            "",
        ]
    (out / "nuclei.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
