"""Failing helpers, `run --once` exit codes, SIGTERM/SIGINT, and an unreachable Redis."""

from __future__ import annotations

import signal
import time

import pytest

from redis_server import free_port

pytestmark = pytest.mark.e2e

EVERY_2S = {"type": "interval", "interval_seconds": 2}
# an occurrence is due at once on start-up: the current hour's, still inside its 1 h expiry
DUE_NOW = {"type": "interval", "interval_seconds": 3600, "expiry": 3600}


def test_failing_helpers_end_in_error_and_the_dispatcher_goes_on(e2e):
    e2e.helper("raiser", EVERY_2S, body='raise ValueError("boom from raiser")')
    e2e.helper("exiter", EVERY_2S, body="sys.exit(3)")
    e2e.helper("killer", EVERY_2S, body="os._exit(5)")
    e2e.helper("fine", EVERY_2S)
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "4")
    try:
        started = time.time()
        names = ("raiser", "exiter", "killer", "fine")

        def two_each_after_start():
            rows = e2e.history()
            per = {
                n: [r for r in rows if r["helper"] == n and r["execution_id"].rpartition(":")[2] > str(int(started))]
                for n in names
            }
            return all(len(v) >= 2 for v in per.values()) and per

        per = e2e.wait_until(two_each_after_start, timeout=9, interval=0.2, proc=proc)
        assert per, (e2e.history(), proc.stderr)
        assert proc.poll() is None, "the dispatcher must keep running"
        for row in per["raiser"]:
            assert row["status"] == "error"
            assert "ValueError" in row["error"] and "boom from raiser" in row["error"]
        for row in per["exiter"]:
            assert row["status"] == "error"
            assert "SystemExit" in row["error"] and "3" in row["error"]
        for row in per["killer"]:
            assert row["status"] == "error"
            assert "code 5" in row["error"], row
            assert row["reason"] == "crashed"
        for row in per["fine"]:
            assert row["status"] == "success" and row["error"] is None
        # every one of them really started (the helpers logged it) but only `fine` reached its end
        ends = {line.execution_id for line in e2e.log() if line.kind == "end"}
        for name in ("raiser", "exiter", "killer"):
            started_ids = {s.execution_id for s in e2e.starts(name)}
            assert {r["execution_id"] for r in per[name]} <= started_ids
            assert not (started_ids & ends)
    finally:
        proc.kill()
    assert "Traceback" not in proc.stderr


def test_run_once_success_exits_0(e2e):
    e2e.helper("okay", DUE_NOW)
    started = time.monotonic()
    result = e2e.qctl("run", "--once", "--concurrency", "1", timeout=20)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    assert [s.helper for s in e2e.starts()] == ["okay"]
    rows = e2e.history()
    assert [(r["helper"], r["status"]) for r in rows] == [("okay", "success")]
    assert "Traceback" not in result.stderr


def test_run_once_failure_exits_1(e2e):
    e2e.helper("broken", DUE_NOW, body='raise RuntimeError("nope")')
    result = e2e.qctl("run", "--once", "--concurrency", "1", timeout=20)
    assert result.returncode == 1, result.stderr
    rows = e2e.history()
    assert [(r["helper"], r["status"]) for r in rows] == [("broken", "error")]
    assert "RuntimeError: nope" in rows[0]["error"]
    assert "Traceback" not in result.stderr


def test_sigterm_with_running_helper_records_shutdown(e2e):
    e2e.helper("sleeper", DUE_NOW, body="time.sleep(60)")
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "1", "--grace", "1")
    try:
        assert e2e.wait_until(lambda: e2e.starts("sleeper"), timeout=5, proc=proc), proc.stderr
        execution_id = e2e.starts("sleeper")[0].execution_id
        sent = time.monotonic()
        proc.signal(signal.SIGTERM)
        rc = proc.wait(timeout=1 + 5)
        took = time.monotonic() - sent
        assert rc == 0, proc.stderr
        assert took <= 1 + 5, took
        assert took >= 0.8, f"it should have waited the 1 s grace, took {took:.2f} s"
    finally:
        proc.kill()
    rows = e2e.history()
    assert [r["execution_id"] for r in rows] == [execution_id]
    assert rows[0]["status"] == "error"
    assert rows[0]["reason"] == "shutdown"
    assert "shutdown" in rows[0]["error"]
    # nothing is left running, and the dispatcher deregistered
    assert e2e.client.zcard("internalExecutionRunning") == 0
    assert e2e.client.hlen("internalRunningHelpers") == 0
    assert e2e.client.zcard("internalDispatchers") == 0
    assert "Traceback" not in proc.stderr


def test_sigint_when_idle_exits_0_quickly(e2e, daily_at):
    e2e.helper("later", {"type": "daily", "time": daily_at(int(time.time()) + 3 * 3600), "timezone": "UTC"})
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "1")
    try:
        status = e2e.qjson("status")
        assert status["dispatcher"]["dispatcher_running"] is True
        sent = time.monotonic()
        proc.signal(signal.SIGINT)
        rc = proc.wait(timeout=5)
        assert rc == 0, proc.stderr
        assert time.monotonic() - sent < 2
    finally:
        proc.kill()
    assert e2e.starts() == []
    assert "Traceback" not in proc.stderr
    assert e2e.client.zcard("internalDispatchers") == 0


# `run` against an unreachable Redis: exit 1 within 5 s, one line on stderr, no traceback.
def test_run_with_unreachable_redis_exits_1_with_one_line(e2e):
    e2e.helper("fine", EVERY_2S)
    port = free_port()  # a free loopback port, never 6379: nothing listens there
    env = e2e.env(REDIS_URL=f"redis://:s3cretpw@127.0.0.1:{port}/0")
    started = time.monotonic()
    result = e2e.qctl("run", "--tick", "0.2", env=env, timeout=10)
    assert time.monotonic() - started < 5
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "s3cretpw" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any(f"127.0.0.1:{port}" in line for line in lines)
    assert len(lines) == 1, result.stderr
