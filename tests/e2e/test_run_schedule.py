"""`queuectl run` really runs helpers on time, in priority order, and expires what waited too long."""

from __future__ import annotations

import signal
import time

import pytest

pytestmark = pytest.mark.e2e


def test_runs_every_two_seconds_on_time(e2e):
    e2e.helper("tick", {"type": "interval", "interval_seconds": 2, "priority": 3})
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "2")
    try:
        ready = time.time()

        def on_time_runs():
            return [s for s in e2e.starts("tick") if s.scheduled > ready]

        runs = e2e.wait_until(lambda: len(on_time_runs()) >= 2 and on_time_runs(), timeout=6, proc=proc)
        assert runs and len(runs) >= 2, e2e.log()
        for run in runs:
            lateness = run.at - run.scheduled
            assert -0.01 <= lateness <= 0.1, f"{run.execution_id} started {lateness * 1000:.0f} ms after its time"
        # let the last one finish and be recorded
        e2e.wait_until(lambda: {r.execution_id for r in runs} <= {h["execution_id"] for h in e2e.history()}, timeout=3)
        history = {h["execution_id"]: h for h in e2e.history("--helper", "tick")}
        for run in runs:
            assert history[run.execution_id]["status"] == "success", history.get(run.execution_id)
            assert history[run.execution_id]["error"] is None
        # the same run is never started twice
        ids = [s.execution_id for s in e2e.starts()]
        assert len(ids) == len(set(ids))
    finally:
        proc.signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        finally:
            proc.kill()
    err = proc.stderr
    for prefix in ("[STARTUP]", "[QUEUE]", "[DISPATCHER]"):
        assert prefix in err, f"{prefix} missing from the log:\n{err}"
    assert "Traceback" not in err


def test_priority_order_with_concurrency_1(e2e, daily_at):
    due = int(time.time()) + 6
    at = daily_at(due)
    for name, priority in (("third", 3), ("first", 1), ("second", 2)):
        e2e.helper(name, {"type": "daily", "time": at, "timezone": "UTC", "priority": priority}, body="time.sleep(0.2)")
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "1")
    try:
        assert time.time() < due - 0.5, "the dispatcher took too long to start for this test"
        starts = e2e.wait_until(
            lambda: len(e2e.starts()) >= 3 and e2e.starts(), timeout=due - time.time() + 6, proc=proc
        )
        assert starts and [s.helper for s in starts] == ["first", "second", "third"], e2e.log()
        assert [s.scheduled for s in starts] == [due, due, due]
        assert all(s.at >= due for s in starts)
        e2e.wait_until(lambda: len(e2e.history()) >= 3, timeout=3)
        assert {h["helper"]: h["status"] for h in e2e.history()} == {
            "first": "success",
            "second": "success",
            "third": "success",
        }
        # concurrency 1: each starts after the previous one ended
        order = [(line.kind, line.helper) for line in e2e.log()]
        assert order == [
            ("start", "first"),
            ("end", "first"),
            ("start", "second"),
            ("end", "second"),
            ("start", "third"),
            ("end", "third"),
        ], order
    finally:
        proc.kill()


def test_expired_execution_never_starts(e2e, daily_at):
    due = int(time.time()) + 6
    at = daily_at(due)
    e2e.helper("slow", {"type": "daily", "time": at, "timezone": "UTC", "priority": 1}, body="time.sleep(3)")
    e2e.helper("hasty", {"type": "daily", "time": at, "timezone": "UTC", "priority": 5, "expiry": 1})
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "1")
    try:
        assert time.time() < due - 0.5, "the dispatcher took too long to start for this test"

        def hasty_done():
            return [h for h in e2e.history("--helper", "hasty")]

        done = e2e.wait_until(hasty_done, timeout=due - time.time() + 5, proc=proc)
        assert done, e2e.log()
        assert [h["execution_id"] for h in done] == [f"hasty:{due}"]
        assert done[0]["status"] == "expired"
        assert done[0]["started_at"] is None
        assert e2e.starts("hasty") == []
        assert [s.execution_id for s in e2e.starts("slow")] == [f"slow:{due}"]
        assert e2e.history("--status", "expired") == done
        # the slow one still finishes normally
        e2e.wait_until(lambda: e2e.history("--helper", "slow"), timeout=5, proc=proc)
        assert e2e.history("--helper", "slow")[0]["status"] == "success"
        assert e2e.starts("hasty") == []
    finally:
        proc.kill()
