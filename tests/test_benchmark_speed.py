"""The speed benchmark's GPU measurement, with a stand-in for ``nvidia-smi``."""

from __future__ import annotations

import math
import time

from tests.benchmark_scripts import load_benchmark

FAKE_NVIDIA_SMI = """#!/usr/bin/env bash
if [[ "$*" == *"query-gpu=name"* ]]; then echo "Test GPU"; exit 0; fi
while true; do echo 0; echo 40; echo 80; sleep 0.05; done
"""


def test_gpu_busy_time_is_the_share_of_samples_with_a_kernel_running():
    speed = load_benchmark("speed")
    summary = speed._gpu_summary([0.0, 50.0, 70.0, 0.0, 0.0, 60.0], {"tiles": 0.6})["gpu"]
    assert summary["samples"] == 6 and math.isclose(summary["busy_seconds"], 0.3)
    assert math.isclose(summary["mean_utilisation_when_busy"], 60.0) and math.isclose(
        summary["busy_share_of_tiles"], 0.5
    )
    assert speed._gpu_summary([], {"tiles": 1.0}) == {}  # no GPU: nothing recorded


def test_gpu_sampling_reads_nvidia_smi_while_the_block_runs(tmp_path, monkeypatch):
    speed = load_benchmark("speed")
    fake = tmp_path / "nvidia-smi"
    fake.write_text(FAKE_NVIDIA_SMI)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert speed._gpu_name() == "Test GPU"
    with speed._gpu_utilisation() as samples:
        time.sleep(0.5)
    assert len(samples) >= 3 and set(samples) <= {0.0, 40.0, 80.0}
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert speed._gpu_name() is None
    with speed._gpu_utilisation() as samples:
        pass
    assert samples == []
