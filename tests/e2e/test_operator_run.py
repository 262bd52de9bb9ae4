"""`helpers run --wait` and `executions cancel` against a real `queuectl run` dispatcher."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture()
def far(daily_at):
    """A schedule whose next occurrence is hours away: only manual runs happen in the test."""
    return {"type": "daily", "time": daily_at(int(time.time()) + 4 * 3600), "timezone": "UTC", "expiry": 600}


def test_run_wait_exit_codes_follow_the_outcome(e2e, far):
    e2e.helper("fine", far, body="time.sleep(0.3)")
    e2e.helper("raiser", far, body='raise ValueError("boom from raiser")')
    e2e.helper("off", {**far, "enabled": False})
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "2")
    try:
        asked = time.time()
        ok = e2e.qctl("helpers", "run", "fine", "--wait", "--reason", "smoke test", timeout=20)
        assert ok.returncode == 0, (ok.stdout, ok.stderr, proc.stderr)
        execution_id = ok.stdout.strip()
        assert execution_id.startswith("fine:manual-")
        assert "ended success" in ok.stderr
        assert [s.execution_id for s in e2e.starts("fine")] == [execution_id]
        assert e2e.starts("fine")[0].at - asked < 3  # picked up within a tick or two

        failed = e2e.qctl("helpers", "run", "raiser", "--wait", "--json", timeout=20)
        assert failed.returncode == 1, (failed.stdout, failed.stderr)
        record = json.loads(failed.stdout)
        assert record["status"] == "error" and "boom from raiser" in record["error"]

        # a disabled helper still runs when asked by name
        disabled = e2e.qctl("helpers", "run", "off", "--wait", "--timeout", "15", "--json", timeout=20)
        assert disabled.returncode == 0 and json.loads(disabled.stdout)["status"] == "success"

        shown = e2e.qjson("executions", "show", execution_id)
        assert [t["event"] for t in shown["timeline"]] == ["created", "due", "claimed", "started", "finished"]
        assert shown["dispatcher"] and shown["lateness"] is not None and shown["duration"] >= 0.3
        assert [e["action"] for e in e2e.qjson("audit")] == ["run", "run", "run"]
    finally:
        proc.kill()
    assert "Traceback" not in proc.stderr


def test_cancel_stops_a_running_helper_and_ends_it_cancelled(e2e, far):
    e2e.helper("sleeper", far, body="time.sleep(60)")
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "2")
    try:
        waiter = e2e.start("helpers", "run", "sleeper", "--wait", "--json")
        started = e2e.wait_until(lambda: e2e.starts("sleeper"), timeout=10, proc=proc)
        assert started, (proc.stderr, waiter.stderr)
        execution_id = started[0].execution_id
        asked = time.time()
        result = e2e.qctl("executions", "cancel", execution_id, "--grace", "3", "--reason", "stuck", timeout=20)
        assert result.returncode == 0, (result.stdout, result.stderr, proc.stderr)
        assert "cancelled (its helper was stopped)" in result.stdout
        row = e2e.qjson("executions", "show", execution_id)
        assert row["status"] == "cancelled" and row["error"] == f"cancelled by {row['requested_by']}: stuck"
        # within the grace: the worker's SIGTERM handler stops the group at once (the request
        # waits for the dispatcher's next tick, 0.2 s here)
        finished = datetime.fromisoformat(row["finished_at"]).timestamp()
        assert finished - asked < 3, finished - asked
        assert [line.kind for line in e2e.log() if line.execution_id == execution_id] == ["start"]
        assert e2e.wait_until(lambda: waiter.poll() is not None, timeout=5), "run --wait did not end"
        assert waiter.poll() == 1 and json.loads(waiter.stdout)["status"] == "cancelled"
        again = e2e.qctl("executions", "cancel", execution_id)
        assert again.returncode == 1 and "already finished" in again.stderr
        assert proc.poll() is None  # the dispatcher goes on
        assert [e["action"] for e in e2e.qjson("audit", "--helper", "sleeper")] == ["cancel", "run"]
    finally:
        proc.kill()
    assert "Traceback" not in proc.stderr


def test_a_helper_that_ignores_sigterm_is_killed_after_the_grace(e2e, far):
    e2e.helper(
        "stubborn",
        far,
        body="import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n_note('ready')\ntime.sleep(60)",
    )
    e2e.helper("fine", far)
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "1")
    try:
        execution_id = e2e.qctl("helpers", "run", "stubborn").stdout.strip()
        assert e2e.wait_until(
            lambda: e2e.log_path.exists() and "ready" in e2e.log_path.read_text(), timeout=10, proc=proc
        )
        t0 = time.monotonic()
        result = e2e.qctl("executions", "cancel", execution_id, "--grace", "1.5", "--json", timeout=20)
        took = time.monotonic() - t0
        assert result.returncode == 0, (result.stdout, result.stderr, proc.stderr)
        report = json.loads(result.stdout)
        assert report["status"] == "cancelled" and report["outcome"] == "requested"
        assert "killed after the grace" in report["execution"]["error"]
        assert 1.5 <= took < 1.5 + 5 + 2, took  # SIGKILL after the grace; the CLI waits grace + 5 s at most
        # its worker was replaced: the next run still works
        ok = e2e.qctl("helpers", "run", "fine", "--wait", "--timeout", "15", timeout=20)
        assert ok.returncode == 0, (ok.stderr, proc.stderr)
    finally:
        proc.kill()
