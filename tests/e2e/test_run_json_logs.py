"""`queuectl run --log-format json`: every stderr line is one JSON object, and one execution's
life (started, succeeded or failed) is there under its id with its timing."""

from __future__ import annotations

import json
import signal
import time

import pytest

pytestmark = pytest.mark.e2e


def parse_lines(text: str) -> list[dict]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            data = json.loads(raw)
        except ValueError:
            raise AssertionError(f"line {number} is not JSON: {raw!r}\n{text}") from None
        assert isinstance(data, dict), raw
        for key in ("ts", "level", "event", "message"):
            assert key in data, (key, raw)
        out.append(data)
    return out


def stop(proc) -> None:
    proc.signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    finally:
        proc.kill()


def test_json_logs_of_a_real_run(e2e, daily_at):
    due = int(time.time()) + 4
    e2e.helper("jsonOk", {"type": "daily", "time": daily_at(due), "timezone": "UTC"}, body="time.sleep(0.05)")
    e2e.helper(
        "jsonBad",
        {"type": "daily", "time": daily_at(due), "timezone": "UTC", "retries": 0},
        body="import logging\nlogging.getLogger('mine').warning('about to fail')\nraise RuntimeError('no luck')",
    )
    proc = e2e.run_dispatcher("--tick", "0.2", "--log-format", "json")
    try:
        ok_id, bad_id = f"jsonOk:{due}", f"jsonBad:{due}"
        done = e2e.wait_until(
            lambda: {h["execution_id"] for h in e2e.history()} >= {ok_id, bad_id}, timeout=due - time.time() + 8
        )
        assert done, proc.describe()
        e2e.wait_until(lambda: "execution_failed" in proc.stderr, timeout=3)
    finally:
        stop(proc)
    assert proc.poll() == 0, proc.describe()
    lines = parse_lines(proc.stderr)
    events = [line["event"] for line in lines]
    for event in ("dispatcher_starting", "helpers_registered", "window_planned", "dispatcher_ready"):
        assert event in events, (event, events)
    assert events[-2:] == ["dispatcher_stopping", "dispatcher_stopped"], events
    dispatcher = e2e.qjson("history", "--helper", "jsonOk")[0]["dispatcher"]
    assert {line.get("dispatcher") for line in lines} == {dispatcher}
    assert all(
        line["ts"].endswith("+00:00") and len(line["ts"]) == len("2026-12-07T15:35:50.123+00:00") for line in lines
    )

    ok = [line for line in lines if line.get("execution_id") == ok_id]
    assert [line["event"] for line in ok] == ["execution_started", "execution_succeeded"], ok
    assert ok[0]["helper"] == "jsonOk" and ok[0]["attempt"] == 1 and ok[0]["level"] == "info"
    assert 0 <= ok[1]["lateness_ms"] < 1000, ok[1]
    assert 40 <= ok[1]["duration_ms"] < 2000, ok[1]
    assert ok[1]["message"].startswith(f"[DISPATCHER] {ok_id} succeeded")

    bad = [line for line in lines if line.get("execution_id") == bad_id]
    assert [line["event"] for line in bad] == ["execution_started", "helper_log", "execution_failed"], bad
    helper_line, failed = bad[1], bad[2]
    assert helper_line["message"] == "about to fail" and helper_line["logger"] == "mine"
    assert helper_line["level"] == "warning"
    assert failed["level"] == "error" and failed["error"] == "RuntimeError: no luck"
    assert "duration_ms" in failed and "lateness_ms" in failed


def test_env_var_selects_json_and_text_stays_the_default(e2e):
    e2e.helper("quiet", {"type": "daily", "time": "03:00", "timezone": "UTC"})
    proc = e2e.run_dispatcher("--tick", "0.2", env=e2e.env(QUEUECTL_LOG_FORMAT="json"))
    stop(proc)
    events = [line["event"] for line in parse_lines(proc.stderr)]
    assert "dispatcher_ready" in events and events[-1] == "dispatcher_stopped"

    proc = e2e.run_dispatcher("--tick", "0.2")
    stop(proc)
    err = proc.stderr
    assert "[STARTUP] dispatcher ready" in err and not err.lstrip().startswith("{")


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--log-format", "xml"], {}, "--log-format"),
        ([], {"QUEUECTL_LOG_FORMAT": "yaml"}, "QUEUECTL_LOG_FORMAT"),
    ],
)
def test_unknown_log_format_is_one_line_and_exit_2(e2e, args, env, named):
    e2e.helper("quiet", {"type": "daily", "time": "03:00", "timezone": "UTC"})
    result = e2e.qctl("run", *args, env=e2e.env(**env))
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "text, json" in lines[0], result.stderr


def test_a_dispatcher_that_cannot_start_says_why_in_json(e2e, tmp_path):
    """Redis unreachable, or no helpers directory: one JSON line with the reason, the usual exit code."""
    e2e.helper("quiet", {"type": "daily", "time": "03:00", "timezone": "UTC"})
    unreachable = e2e.qctl("run", "--log-format", "json", env=e2e.env(REDIS_URL="redis://127.0.0.1:1/0"))
    missing = e2e.qctl("run", "--log-format", "json", env=e2e.env(QUEUECTL_HELPERS_DIR=str(tmp_path / "nowhere")))
    for result, code in ((unreachable, 1), (missing, 2)):
        assert result.returncode == code, (result.stdout, result.stderr)
        lines = parse_lines(result.stderr)
        assert [line["event"] for line in lines][-1] == "dispatcher_failed", lines
        assert lines[-1]["level"] == "error" and lines[-1]["exit_code"] == code
        assert lines[-1]["message"].startswith("Error: ") and "Traceback" not in result.stderr
    assert "nowhere" in parse_lines(missing.stderr)[-1]["message"]
    text = e2e.qctl("run", env=e2e.env(QUEUECTL_HELPERS_DIR=str(tmp_path / "nowhere")))
    assert text.returncode == 2 and text.stderr.startswith("Error: helpers directory not found"), text.stderr
