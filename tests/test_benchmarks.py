"""The benchmark scripts run end to end (smallest settings) and write sane results."""

import importlib.util
import json
import math
import os

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks")


def _load(name):
    spec = importlib.util.spec_from_file_location(
        f"benchmarks_{name}", os.path.join(BENCHMARKS, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_memory_in_process_reports_rss_per_fit(tmp_path):
    memory = _load("memory")
    memory.main(
        [
            "--fits",
            "2",
            "--epochs",
            "1",
            "--hidden",
            "4",
            "--n-samples",
            "60",
            "--variants",
            "deepstack",
            "--in-process",
            "--out",
            str(tmp_path),
        ]
    )
    with open(tmp_path / "memory.json") as handle:
        payload = json.load(handle)
    (run,) = payload["runs"]
    assert run["variant"] == "deepstack"
    assert len(run["rss_mb"]) == 2 and all(r > 10 for r in run["rss_mb"])
    summary = payload["summary"][0]
    assert "after fit 1 (MB)" in summary and "after fit 2 (MB)" in summary
    assert math.isfinite(summary["growth per fit (MB)"])
