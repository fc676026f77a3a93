"""The accuracy benchmark's equal-capture comparison, on known numbers."""

from __future__ import annotations

import math

import anndata
import numpy as np
import pandas as pd

import halo
from tests.benchmark_scripts import load_benchmark


def _row(crop, method, assigned, mecr, purity):
    return {"crop": crop, "method": method, "fraction_assigned": assigned, "mecr": mecr, "purity": purity}


def test_expansion_is_interpolated_to_halos_capture_and_not_beyond_it():
    curve = [("nuclei_only", 0.4, 0.03, 0.5), ("expansion_5um", 0.8, 0.06, 0.3), ("expansion_8um", 0.9, 0.08, 0.2)]
    real = [_row("a", m, f, e, p) for m, f, e, p in curve] + [_row("a", "halo", 0.85, 0.065, 0.3)]
    real += [_row("b", m, f, e, p) for m, f, e, p in curve] + [_row("b", "halo", 0.95, 0.05, 0.4)]
    real += [_row("c", m, f, float("nan"), float("nan")) for m, f, _, _ in curve]
    real += [_row("c", "halo", 0.85, float("nan"), float("nan"))]
    a, b = load_benchmark("accuracy").at_equal_capture(real)
    assert a["crop"] == "a" and math.isclose(a["expansion_mecr"], 0.07) and math.isclose(a["expansion_purity"], 0.25)
    assert a["halo_mecr"] == 0.065 and a["fewer_mecr"]
    assert b["crop"] == "b" and math.isnan(b["expansion_mecr"]) and not b["fewer_mecr"]  # beyond 8 um: no claim


def _table(mixed: np.ndarray):
    """Cells of type A (even) and B (odd), 12 molecules of their own marker; ``mixed`` ones also 6 of the other."""
    n = mixed.size
    own = np.arange(n) % 2
    counts = np.zeros((n, 2), np.float32)
    counts[np.arange(n), own] = 12
    counts[np.arange(n), 1 - own] = np.where(mixed, 6, 0)
    table = anndata.AnnData(counts, obs=pd.DataFrame(index=[f"cell{i}" for i in range(n)]))
    table.var_names = ["A", "B"]
    table.layers["counts"] = counts
    return table


def test_mecr_interval_pairs_cells_by_nucleus_and_brackets_the_difference():
    accuracy = load_benchmark("accuracy")
    cell = np.arange(80)
    # expansion mixes half its cells at 0.9 capture and none at 0.5; halo, at 0.7, mixes a tenth of them
    tables = {
        "nuclei_only": _table(np.zeros(80, bool)),
        "expansion_5um": _table(cell % 4 < 2),
        "halo": _table(cell % 10 == 3),
    }
    captured = {"nuclei_only": 0.5, "expansion_5um": 0.9, "halo": 0.7}
    markers = {"a": ["A"], "b": ["B"]}
    result = accuracy.mecr_interval(tables, captured, markers)
    mecr = {name: halo.metrics.mecr(table, markers, layer="counts") for name, table in tables.items()}
    expected = mecr["halo"] - 0.5 * mecr["expansion_5um"]  # halfway along expansion's curve
    assert result["cells"] == 80 and math.isclose(result["mecr_minus_expansion"], expected)
    assert result["low_95"] < result["mecr_minus_expansion"] < result["high_95"] < 0
    # cells are matched by key, not by position: halo's rows in another order, and cells of its own, change nothing
    extra = _table(np.ones(6, bool))
    extra.obs_names = [f"halo_only{i}" for i in range(6)]
    tables["halo"] = anndata.concat([tables["halo"][::-1], extra])
    assert accuracy.mecr_interval(tables, captured, markers) == result
    beyond = accuracy.mecr_interval(tables, {**captured, "halo": 0.95}, markers)
    assert math.isnan(beyond["mecr_minus_expansion"])
    del tables["nuclei_only"]  # one expansion is no curve
    assert math.isnan(accuracy.mecr_interval(tables, captured, markers)["mecr_minus_expansion"])


def test_whole_cell_summary_compares_halo_with_every_expansion_distance():
    summary = load_benchmark("real_reference").summary
    rows = [
        {"method": "reference", "n_cells": 3, "median_solidity": 0.95},
        {"method": "halo", "f1": 0.70, "ari": 0.65, "median_solidity": 0.9},
        {"method": "expansion_2um", "f1": 0.60, "ari": 0.4, "median_solidity": 0.96},
        {"method": "expansion_3um", "f1": 0.72, "ari": 0.6, "median_solidity": 0.96},
        {"method": "expansion_8um", "f1": 0.50, "ari": 0.8, "median_solidity": 0.94},
    ]
    result = summary(rows)
    assert result["best_expansion"] == "expansion_3um" and not result["halo_above_every_expansion_f1"]
    assert result["halo_ari_above_best_f1_expansion"] and result["highest_ari_expansion"] == "expansion_8um"
    rows[1]["f1"] = 0.73
    assert summary(rows)["halo_above_every_expansion_f1"]
