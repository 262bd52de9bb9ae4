"""Smoke run of the benchmark scripts (bench/): tiny sizes, real processes, seconds.

Runs bench/dispatch.py and bench/lateness.py side by side as subprocesses (each starts its own
throw-away redis-server and `queuectl run`) and checks that each prints a JSON line LAST with
the keys the docs and bench/chart.py read. Figures are not asserted: a smoke run on a busy
2-core machine measures nothing; see docs/benchmarks.md for the real runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _start(script: str, args: list[str], port: int) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["QUEUECTL_BENCH_REDIS_PORT"] = str(port)  # distinct first ports: the two runs never race for one
    env.pop("REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, str(BENCH / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(BENCH.parent),
    )


def _last_json(proc: subprocess.Popen[str], name: str) -> dict:
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the script stops its Redis and dispatcher by PID on SIGTERM
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"{name} timed out:\n{err[-3000:]}") from None
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert lines, f"{name} printed nothing (rc={proc.returncode}):\n{err[-3000:]}"
    try:
        result = json.loads(lines[-1])
    except ValueError:
        raise AssertionError(f"{name}: last line is not JSON: {lines[-1][:300]!r}\n{err[-3000:]}") from None
    assert proc.returncode == 0, f"{name} rc={proc.returncode}: {result.get('queuectl_runs')}\n{err[-3000:]}"
    return result


def test_dispatch_and_lateness_smoke() -> None:
    dispatch = _start("dispatch.py", ["-n", "200", "--warmup", "5", "--margin", "3", "--timeout", "30"], 16470)
    lateness = _start(
        "lateness.py", ["-n", "20", "--span", "3", "--warmup", "5", "--margin", "3", "--timeout", "30"], 16490
    )
    d = _last_json(dispatch, "dispatch.py")
    lt = _last_json(lateness, "lateness.py")

    assert d["metric"] == "dispatch" and d["n"] == 200
    for key in (
        "throughput_jobs_per_s",
        "steady_jobs_per_s",
        "last_start_after_due_s",
        "lateness_p50_ms",
        "lateness_p99_ms",
        "complete",
        "last_start_within_1s",
        "queuectl",
        "queuectl_runs",
        "machine",
    ):
        assert key in d, key
    assert d["complete"] is True
    run = d["queuectl_runs"][0]
    assert run["started"] == 200 and run["duplicates"] == 0
    assert d["throughput_jobs_per_s"] > 0

    assert lt["metric"] == "lateness" and lt["n"] == 20 and lt["span_s"] == 3
    for key in ("lateness_p50_ms", "lateness_p99_ms", "complete", "target_p50_le_2ms", "queuectl", "machine"):
        assert key in lt, key
    assert lt["complete"] is True
    assert lt["queuectl_runs"][0]["started"] == 20 and lt["queuectl_runs"][0]["duplicates"] == 0
    assert lt["queuectl"]["p99_ms"] >= lt["queuectl"]["p50_ms"] >= 0
