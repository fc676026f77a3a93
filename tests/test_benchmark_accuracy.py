"""The accuracy benchmark's equal-capture comparison, on known numbers."""

from __future__ import annotations

import math

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
