"""Where a tile's time goes: every stage of ``halo.tl.segment``'s per-tile work, profiled on one core.

Segments a synthetic slide of 2 x 2 tile cores (``halo.datasets.tiled_slide``) with dask's synchronous scheduler
under ``cProfile``, for each method and nucleus source, and adds up the time of the functions of each stage (the
stage's own entry point, cumulative). Writes ``docs/benchmarks/tile_profile.json`` and ``.md``; ``docs/scale.md``
shows the table.

Run: ``PYTHONPATH=src python benchmarks/tile_profile.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Stage -> the cumulative time of these functions (``file:function``), or of a function called from another
#: (``file:function<file:caller``); disjoint within a tile.
STAGES = {
    "nuclei: classical detector": ["halo/methods/_nuclei.py:detect_nuclei"],
    "nuclei: nucleus network, prediction": [
        "halo/model/_predict.py:predict_on_patches<halo/methods/_nucleus_sources.py:nuclei"
    ],
    "nuclei: nucleus network, decoding": ["halo/methods/_nuclei_network.py:nuclei_from_network"],
    "network inputs (features)": ["halo/model/_predict.py:window_features"],
    "network (patches and forward passes)": ["halo/model/_predict.py:predict_region"],
    "distance to nuclei": ["halo/methods/_halo.py:nucleus_distance<halo/methods/_halo.py:segment"],
    "decoder (flooding, reach)": ["halo/methods/_halo.py:decode_cells"],
    "expansion": ["halo/methods/_expansion.py:expand_nuclei"],
    "morphology": ["halo/_geometry/_morphology.py:label_morphology"],
    "outlines (tracing)": ["halo/_geometry/_polygons.py:labels_to_ragged"],
    "perimeter and hull": ["halo/_geometry/_polygons.py:smoothed_perimeter"],
    "transcript counts": ["halo/_pipeline/_tile.py:_counts_per_cell"],
    "reading windows and transcripts": [
        "halo/_pipeline/_run.py:read",
        "halo/io/_partition.py:in_box",
        "halo/io/_partition.py:tiles",
    ],
}
#: Stage -> a stage inside it whose seconds it must not count again.
NESTED = {"network (patches and forward passes)": "network inputs (features)"}
CONFIGS = {
    "halo, classical nuclei": {"method": "halo", "nuclei_source": "image"},
    "halo, nucleus network": {"method": "halo", "nuclei_source": "learned"},
    "expansion, classical nuclei": {"method": "expansion", "nuclei_source": "image"},
}


def profile(sdata_path: Path, options: dict) -> dict:
    """Seconds per stage, per tile and per native megapixel, of one segmentation."""
    import dask
    import torch

    import halo

    torch.set_num_threads(1)  # as in halo's tile workers: one thread per tile, the cores shared by tiles
    sdata = halo.io.read_store(sdata_path)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    with dask.config.set(scheduler="synchronous"):
        profiler.enable()
        halo.tl.segment(sdata, key_added="profiled", progress=False, **options)
        profiler.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats
    table = sdata.tables["profiled_table"]
    timings, params = table.uns["halo"]["timings"], table.uns["halo"]["params"]
    n_tiles = int(params["n_tiles"])
    height, width = halo.io.pyramid_levels(sdata.images[params["image_key"]])[0].shape[-2:]
    megapixels = height * width / 1e6
    stages = {stage: sum(_cumulative(stats, f) for f in functions) for stage, functions in STAGES.items()}
    for outer, inner in NESTED.items():
        stages[outer] -= stages[inner]
    stages = {stage: seconds for stage, seconds in stages.items() if seconds > 0}
    tiles_s = float(timings["tiles"])
    stages["other tile work"] = max(tiles_s - sum(stages.values()), 0.0)
    return {
        "options": options, "n_tiles": n_tiles, "megapixels": round(megapixels, 2), "total_s": round(total, 2),
        "timings_s": {k: round(float(v), 2) for k, v in timings.items()},
        "tile_stages_s_per_tile": {k: round(v / n_tiles, 3) for k, v in stages.items()},
        "cells": int(table.n_obs),
    }  # fmt: skip


def _matches(key, spec: str) -> bool:
    path, name = spec.split(":")
    return key[0].endswith(path) and key[2] == name


def _cumulative(stats: dict, spec: str) -> float:
    """Cumulative seconds of ``file:function``, or only of its calls from ``file:caller`` (``function<caller``)."""
    target, _, caller = spec.partition("<")
    total = 0.0
    for key, (_, _, _, cumulative, callers) in stats.items():
        if _matches(key, target):
            total += sum(v[3] for k, v in callers.items() if _matches(k, caller)) if caller else cumulative
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile-um", type=float, default=500.0)
    args = parser.parse_args()
    import halo

    folder = Path(tempfile.mkdtemp(prefix="halo-profile-"))
    path = folder / "slide.zarr"
    halo.datasets.tiled_slide(path, size_um=2 * args.tile_um, block_um=250.0, seed=0, progress=False)
    results = {name: profile(path, {**options, "tile_um": args.tile_um}) for name, options in CONFIGS.items()}
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    out = ROOT / "docs" / "benchmarks"
    (out / "tile_profile.json").write_text(json.dumps({"machine": machine, "results": results}, indent=1) + "\n")
    stages = {s for r in results.values() for s in r["tile_stages_s_per_tile"]}
    order = [s for s in [*STAGES, "other tile work"] if s in stages]
    lines = [
        "# Where a tile's time goes",
        "",
        f"`benchmarks/tile_profile.py`: a synthetic slide of 2 x 2 tile cores of {args.tile_um:.0f} um",
        "(Xenium pixels, ~5.5 native megapixels per tile), segmented with dask's synchronous scheduler under",
        "cProfile; seconds of one core per tile (torch on one thread, as halo's tile workers run it), each stage the",
        f"cumulative time of its entry function. {machine}; the cores were shared with other work, so read the",
        "shares more than the seconds.",
        "",
        "| stage | " + " | ".join(results) + " |",
        "| --- | " + " | ".join("---" for _ in results) + " |",
    ]
    for stage in order:
        cells = [f"{r['tile_stages_s_per_tile'].get(stage, 0.0):.3f}" for r in results.values()]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    tile_s = [float(r["timings_s"]["tiles"]) / r["n_tiles"] for r in results.values()]
    lines.append("| **tile, all stages** | " + " | ".join(f"**{t:.3f}**" for t in tile_s) + " |")
    lines += ["", "Stages of the whole run (seconds, `uns['halo']['timings']`):", ""]
    lines += ["| stage | " + " | ".join(results) + " |", "| --- | " + " | ".join("---" for _ in results) + " |"]
    for stage in next(iter(results.values()))["timings_s"]:
        lines.append(f"| {stage} | " + " | ".join(f"{r['timings_s'][stage]:.2f}" for r in results.values()) + " |")
    (out / "tile_profile.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
