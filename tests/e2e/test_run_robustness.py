"""Never twice, never stuck: two dispatchers, restarts, timeouts, helper shapes."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import datetime

import pytest

pytestmark = pytest.mark.e2e

DUE_NOW = {"type": "interval", "interval_seconds": 3600, "expiry": 3600}


def test_two_dispatchers_never_run_an_execution_twice(e2e):
    e2e.helper("fast", {"type": "interval", "interval_seconds": 1})
    e2e.helper("slower", {"type": "interval", "interval_seconds": 2}, body="time.sleep(0.3)")
    first = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "2")
    second = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "2")
    try:
        status = e2e.qjson("status")
        assert len(status["dispatchers"]) == 2
        time.sleep(5)
        assert first.poll() is None and second.poll() is None
    finally:
        for proc in (first, second):
            proc.signal(signal.SIGTERM)
        for proc in (first, second):
            try:
                assert proc.wait(timeout=10) == 0, proc.stderr
            finally:
                proc.kill()
    starts = Counter(s.execution_id for s in e2e.starts())
    assert starts, e2e.log()
    twice = {k: v for k, v in starts.items() if v > 1}
    assert twice == {}, f"started more than once: {twice}"
    assert sum(1 for k in starts if k.startswith("fast:")) >= 4
    history = {h["execution_id"]: h for h in e2e.history()}
    for execution_id in starts:
        assert history[execution_id]["status"] == "success", history.get(execution_id)
    # every started execution names the dispatcher that ran it (an expired one has none)
    assert all(history[execution_id]["dispatcher"] for execution_id in starts)


def test_run_once_twice_does_not_repeat_an_occurrence(e2e):
    e2e.helper("daily_job", DUE_NOW)
    assert e2e.qctl("run", "--once", "--concurrency", "1", timeout=20).returncode == 0
    assert e2e.qctl("run", "--once", "--concurrency", "1", timeout=20).returncode == 0
    ids = [s.execution_id for s in e2e.starts()]
    assert len(ids) == 1, ids
    assert [h["execution_id"] for h in e2e.history()] == ids


def test_helper_timeout_is_enforced(e2e):
    e2e.helper("hang", {**DUE_NOW, "timeout": 1}, body="time.sleep(30)")
    e2e.helper("fine", {"type": "interval", "interval_seconds": 1})
    proc = e2e.run_dispatcher("--tick", "0.2", "--concurrency", "2")
    try:
        rows = e2e.wait_until(lambda: e2e.history("--helper", "hang"), timeout=5, proc=proc)
        assert rows, proc.stderr
        assert rows[0]["status"] == "error"
        assert rows[0]["reason"] == "timeout"
        assert "timeout" in rows[0]["error"]
        started = time.time()
        assert e2e.wait_until(lambda: [s for s in e2e.starts("fine") if s.at > started], timeout=3, proc=proc)
        duration = (
            datetime.fromisoformat(rows[0]["finished_at"]) - datetime.fromisoformat(rows[0]["started_at"])
        ).total_seconds()
        assert 0.9 <= duration <= 3, duration
    finally:
        proc.kill()
    assert [line.kind for line in e2e.log() if line.helper == "hang"] == ["start"]


def test_async_and_context_free_helpers_run(e2e):
    e2e.helpers_dir.mkdir(exist_ok=True)
    log = e2e.log_path
    (e2e.helpers_dir / "shapes.py").write_text(f"""\
import asyncio
import os

from queuectl import BaseHelper

LOG = {str(log)!r}


def note(text):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (text + "\\n").encode())
    os.close(fd)


class AsyncOne(BaseHelper):
    name = "asyncOne"

    def get_schedule_config(self):
        return {DUE_NOW!r}

    async def run(self, ctx):
        await asyncio.sleep(0.05)
        note("start %s 0" % ctx.execution_id)


class NoCtx(BaseHelper):
    name = "noCtx"

    def get_schedule_config(self):
        return {DUE_NOW!r}

    def run(self):
        note("start noCtx:0 0")
""")
    result = e2e.qctl("run", "--once", "--concurrency", "2", timeout=20)
    assert result.returncode == 0, result.stderr
    assert sorted(s.helper for s in e2e.starts()) == ["asyncOne", "noCtx"]
    assert sorted((h["helper"], h["status"]) for h in e2e.history()) == [("asyncOne", "success"), ("noCtx", "success")]
