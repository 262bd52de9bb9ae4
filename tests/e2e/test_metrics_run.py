"""/metrics with a real `queuectl run`: what the dispatcher did (successes, errors, retried
attempts) is what the counters say, execution for execution, and what history holds; in both
queue layouts."""

from __future__ import annotations

import signal
import time
from collections import Counter
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from queuectl.api.metrics import render

pytestmark = pytest.mark.e2e

EVERY_2S = {"type": "interval", "interval_seconds": 2}


def scrape(app) -> dict[str, list]:
    body, _ = render(app)
    return {f.name: f.samples for f in text_string_to_metric_families(body.decode())}


@pytest.mark.parametrize("compact", ["0", "1"], ids=["documented", "compact"])
def test_the_counters_of_a_real_dispatcher_match_its_history(e2e, app, compact):
    e2e.helper("fine", EVERY_2S)
    e2e.helper("raiser", EVERY_2S, body='raise ValueError("boom")')
    # fails every attempt, and is retried once (backoff 0.2 s times a jitter in [0.5, 1], queued for
    # the next whole second: well inside its 10 s expiry)
    e2e.helper(
        "flaky", {**EVERY_2S, "expiry": 10, "retries": 1, "retry_backoff": 0.2}, body='raise RuntimeError("again")'
    )
    env = e2e.env(QUEUECTL_COMPACT_QUEUE=compact)
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "3", env=env)
    try:
        assert e2e.wait_until(lambda: scrape(app)["queuectl_dispatchers_alive"][0].value == 1, timeout=5)

        def enough():
            rows = e2e.history()
            per = Counter(r["helper"] for r in rows)
            return per["fine"] >= 2 and per["raiser"] >= 2 and per["flaky"] >= 4 and rows

        assert e2e.wait_until(enough, timeout=12, interval=0.2, proc=proc), e2e.history()
    finally:
        proc.signal(signal.SIGTERM)
        proc.wait(10)
    time.sleep(0.1)
    rows = e2e.history()
    fams = scrape(app)

    in_history = Counter((r["helper"], r["status"]) for r in rows)
    counted = Counter(
        {
            (s.labels["helper"], s.labels["status"]): int(s.value)
            for s in fams["queuectl_executions"]
            if s.name == "queuectl_executions_total"
        }
    )
    assert counted == in_history
    assert any("#" in r["execution_id"] for r in rows if r["helper"] == "flaky")  # a retried attempt
    # every execution that started was observed once in each histogram (one whose first run fell
    # due while the dispatcher was starting may have expired: it never started)
    started = [r for r in rows if r["started_at"] is not None]
    assert len(started) >= 6  # of at least 8 rows: one per helper may have expired at start-up
    for family in ("queuectl_execution_lateness_seconds", "queuectl_execution_duration_seconds"):
        [observed] = [int(s.value) for s in fams[family] if s.name == family + "_count"]
        assert observed == len(started)
    # the lateness sum: at least the helpers' without retries (history's startedAt - executionTime),
    # at most every row's (a retry's lateness counts from its retry time, later than executionTime)
    [late_sum] = [s.value for s in fams["queuectl_execution_lateness_seconds"] if s.name.endswith("_sum")]

    def lateness(r: dict[str, Any]) -> float:
        return max(0.0, _epoch(r["started_at"]) - _epoch(r["execution_time"]))

    without_retries = sum(lateness(r) for r in started if r["helper"] in ("fine", "raiser"))
    assert without_retries - 0.002 * len(started) <= late_sum <= sum(map(lateness, started)) + 0.002 * len(started)
    last_fine = max(_epoch(r["finished_at"]) for r in rows if r["helper"] == "fine" and r["status"] == "success")
    [last_ok] = [
        s.value for s in fams["queuectl_helper_last_success_timestamp_seconds"] if s.labels["helper"] == "fine"
    ]
    assert abs(last_ok - last_fine) < 0.01
    assert fams["queuectl_dispatchers_alive"][0].value == 0  # it deregistered on SIGTERM
    assert fams["queuectl_running_executions"][0].value == 0


def _epoch(iso_text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso_text).timestamp()
