"""How long ``halo.datasets.simulate_tissue`` takes for a 500 x 500 um field, per archetype.

Goal: under 10 s per field at the Xenium pixel size (0.2125 um/px, 2353 x 2353 px), so that training can draw fresh
tissue continuously; also timed at 0.5 um/px (the training resolution) and for the SpatialData wrapper ``simulate``.
Writes ``docs/benchmarks/simulation_speed.json`` and ``.md``.
Run: ``PYTHONPATH=src python benchmarks/simulation_speed.py``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path

import halo

logger = logging.getLogger("halo.benchmarks.simulation_speed")
ROOT = Path(__file__).resolve().parents[1]
FIELD_UM = 500.0
SEED = 1_000_000


def _timed(func, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return time.perf_counter() - start, out


def _cpu_timed(func, *args, **kwargs) -> tuple[float, float, object]:
    """Return wall and CPU seconds (this process, all threads): on shared cores wall time depends on others' load."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = func(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> dict:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    rows = []
    for tissue in (*halo.datasets.ARCHETYPES, "mixed"):
        seconds, cpu, t = _cpu_timed(halo.datasets.simulate_tissue, tissue, size_um=FIELD_UM, seed=SEED)
        fast, _ = _timed(halo.datasets.simulate_tissue, tissue, size_um=FIELD_UM, seed=SEED, um_per_px=0.5)
        rows.append(
            {
                "tissue": t.archetype,
                "seconds_xenium_px": round(seconds, 2),
                "cpu_seconds_xenium_px": round(cpu, 2),
                "seconds_0.5um_px": round(fast, 2),
                "cells": t.n_cells,
                "transcripts": int(t.tx_x.size),
                "pixels": f"{t.dapi.shape[1]} x {t.dapi.shape[0]}",
            }
        )
        logger.info("%s", rows[-1])
    wrapper, _ = _timed(halo.datasets.simulate, "mixed", size_um=FIELD_UM, seed=SEED)
    result = {
        "field_um": FIELD_UM,
        "platform": "xenium",
        "rows": rows,
        "max_seconds_xenium_px": max(r["seconds_xenium_px"] for r in rows),
        "max_cpu_seconds_xenium_px": max(r["cpu_seconds_xenium_px"] for r in rows),
        "simulate_spatialdata_seconds": round(wrapper, 2),
        "machine": (
            f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores (shared), Python {platform.python_version()}"
        ),
        # other work on the shared cores slows every number here: record how busy the machine was
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }
    out = ROOT / "docs" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulation_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Simulation speed",
        "",
        f"`simulate_tissue(tissue, size_um={FIELD_UM:.0f}, seed={SEED})` on {result['machine']}; goal < 10 s at the",
        f"Xenium pixel size. Slowest: {result['max_seconds_xenium_px']:.1f} s wall, "
        f"{result['max_cpu_seconds_xenium_px']:.1f} s CPU. `simulate` (SpatialData, with polygons)",
        f"for a mixed field: {result['simulate_spatialdata_seconds']:.1f} s. Load average (1 min) when done:",
        f"{result['load_average_1min_after']} on {len(os.sched_getaffinity(0))} cores.",
        "",
        "| tissue | s at 0.2125 um/px | CPU s at 0.2125 um/px | s at 0.5 um/px | cells | transcripts | pixels |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {r['tissue']} | {r['seconds_xenium_px']:.2f} | {r['cpu_seconds_xenium_px']:.2f} "
        f"| {r['seconds_0.5um_px']:.2f} "
        f"| {r['cells']} "
        f"| {r['transcripts']} "
        f"| {r['pixels']} |"
        for r in rows
    ]
    (out / "simulation_speed.md").write_text("\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
