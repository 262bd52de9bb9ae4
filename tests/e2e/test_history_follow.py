"""`queuectl history --follow` against a real dispatcher: prints executions as they finish (NDJSON
with --json), with its filters, asks Redis at most once a second, survives Redis going away,
and ends on Ctrl-C with exit 0 and no traceback."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from redis_server import RedisServer, redis_cli_binary
from support import queuectl_env

pytestmark = pytest.mark.e2e


def ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def interrupt(proc) -> int:
    proc.signal(signal.SIGINT)
    try:
        return proc.wait(timeout=10)
    finally:
        proc.kill()


def test_follow_json_prints_each_execution_as_it_finishes(e2e):
    e2e.helper("fast", {"type": "interval", "interval_seconds": 1})
    e2e.helper("boom", {"type": "interval", "interval_seconds": 1, "retries": 0}, body="raise ValueError('x')")
    dispatcher = e2e.run_dispatcher("--tick", "0.2")
    assert e2e.wait_until(lambda: e2e.history(), timeout=5), dispatcher.describe()
    before = {h["execution_id"] for h in e2e.history()}
    everything = e2e.start("history", "--follow", "--json")
    errors = e2e.start("history", "--follow", "--json", "--helper", "boom", "--status", "error")
    try:
        assert e2e.wait_until(lambda: len(ndjson(everything.stdout)) >= 6, timeout=10, proc=everything), (
            everything.describe()
        )
        assert e2e.wait_until(lambda: len(ndjson(errors.stdout)) >= 2, timeout=5, proc=errors), errors.describe()
    finally:
        rc_all, rc_errors = interrupt(everything), interrupt(errors)
        dispatcher.kill()
    assert (rc_all, rc_errors) == (0, 0)
    for proc in (everything, errors):
        assert "Traceback" not in proc.stderr and "Interrupted" not in proc.stderr, proc.stderr
    rows = ndjson(everything.stdout)
    seen = [r["execution_id"] for r in rows]
    assert len(seen) == len(set(seen)), seen  # each once
    history = {h["execution_id"]: h for h in e2e.history()}
    for row in rows:
        assert row == history[row["execution_id"]]  # the object `history --json` shows
    assert {r["helper"] for r in rows} == {"fast", "boom"}
    finished = [r["finished_at"] for r in rows]
    assert finished == sorted(finished)  # in the order they finished
    picked = ndjson(errors.stdout)
    assert {(r["helper"], r["status"]) for r in picked} == {("boom", "error")}
    assert not set(seen) & before  # it starts at the end: what had finished is not shown


def test_follow_table_rows_and_at_most_one_poll_a_second(e2e):
    e2e.helper("steady", {"type": "interval", "interval_seconds": 1})
    dispatcher = e2e.run_dispatcher("--tick", "0.2")
    follower = e2e.start("history", "--follow")
    monitor_out = e2e.root / "monitor.txt"
    try:
        assert e2e.wait_until(lambda: "steady:" in follower.stdout, timeout=8, proc=follower), follower.describe()
        with open(monitor_out, "w") as out:
            monitor = subprocess.Popen(
                [redis_cli_binary(), "-h", "127.0.0.1", "-p", str(e2e.redis_port), "MONITOR"], stdout=out
            )
            try:
                time.sleep(4.5)
            finally:
                monitor.kill()
                monitor.wait(timeout=5)
    finally:
        rc = interrupt(follower)
        dispatcher.kill()
    assert rc == 0 and "Traceback" not in follower.stderr, follower.describe()
    lines = follower.stdout.splitlines()
    assert lines[0].split() == ["FINISHED", "STATUS", "DURATION", "EXECUTION", "ERROR"]
    rows = [line for line in lines[1:] if line.strip()]
    assert len(rows) >= 3 and all(
        re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  success\s+\d+ ms  steady:\d+$", r) for r in rows
    ), lines
    # the follower's reads of history (not the dispatcher's scripts, shown as [... lua]) in 4.5 s
    reads = [
        line
        for line in monitor_out.read_text().splitlines()
        if '"ZRANGEBYSCORE" "internalExecutionHistory"' in line and " lua]" not in line
    ]
    assert 3 <= len(reads) <= 5, reads


def test_follow_survives_redis_going_away(e2e, tmp_path: Path):
    with RedisServer(root=tmp_path) as server:
        env = queuectl_env(server.url, e2e.helpers_dir, e2e.root)
        e2e.helper("pulse", {"type": "interval", "interval_seconds": 1})
        dispatcher = e2e.run_dispatcher("--tick", "0.2", env=env)
        follower = e2e.start("history", "--follow", "--json", env=env)
        try:
            assert e2e.wait_until(lambda: ndjson(follower.stdout), timeout=8, proc=follower), follower.describe()
            server.stop()
            assert follower.wait_for_stderr("Redis unreachable", 5), follower.describe()
            time.sleep(2.5)  # several failed polls
            assert follower.stderr.count("Redis unreachable") == 1, follower.stderr
            before = len(ndjson(follower.stdout))
            server.start()
            assert follower.wait_for_stderr("Redis answers again", 5), follower.describe()
            assert e2e.wait_until(lambda: len(ndjson(follower.stdout)) > before, timeout=15, proc=follower), (
                follower.describe() + dispatcher.describe()
            )
        finally:
            rc = interrupt(follower)
            dispatcher.kill()
        assert rc == 0, follower.describe()
        assert len(follower.stderr.strip().splitlines()) == 2, follower.stderr
        assert "Traceback" not in follower.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "1h"], "--since"),
        (["--status", "running"], "running"),
        (["--helper", "bad name"], "bad name"),
    ],
)
def test_follow_refuses_bad_input_with_one_line(e2e, args, named):
    result = e2e.qctl("history", "--follow", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
