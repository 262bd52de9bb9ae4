"""`queuectl queue show`, `queuectl history` and `queuectl status`."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from support import live_dispatcher

EXECUTION_KEYS = {
    "execution_id",
    "helper",
    "execution_time",
    "priority",
    "status",
    "started_at",
    "finished_at",
    "error",
}


def ts(text: str) -> float:
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None, f"{text!r} has no UTC offset"
    return parsed.timestamp()


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# queue show


@pytest.fixture()
def queued(cli, make_helper, register):
    # same instants every 600 s: qa/qb collide, qc joins every 900 s (all at :00 of 5 min steps)
    make_helper("qa", {"type": "interval", "interval_seconds": 600, "priority": 3})
    make_helper("qb", {"type": "interval", "interval_seconds": 600, "priority": 1})
    make_helper("qc", {"type": "interval", "interval_seconds": 900, "priority": 2})
    register()
    return cli


def test_queue_show_json_order_and_shape(queued, client):
    rows = queued.json("queue", "show", "--limit", "30")
    assert len(rows) == 30
    for row in rows:
        assert EXECUTION_KEYS <= set(row), row
        assert row["status"] == "queued"
        assert row["started_at"] is None and row["finished_at"] is None and row["error"] is None
        assert row["execution_id"] == f"{row['helper']}:{int(ts(row['execution_time']))}"
    order = [(ts(r["execution_time"]), r["priority"]) for r in rows]
    assert order == sorted(order)
    # where helpers share an instant, the higher priority (lower number) comes first
    shared = {}
    for r in rows:
        shared.setdefault(r["execution_time"], []).append(r["helper"])
    collisions = [helpers for helpers in shared.values() if len(helpers) > 1]
    assert collisions, "qa and qb share every instant"
    for helpers in collisions:
        assert helpers == sorted(helpers, key=lambda h: {"qb": 1, "qc": 2, "qa": 3}[h])
    # the same order as the queue itself
    assert [r["execution_id"] for r in rows] == client.zrange("internalExecutionQueue", 0, 29)


def test_queue_show_default_limit_is_20(queued):
    assert len(queued.json("queue", "show")) == 20


def test_queue_show_limit_and_helper_filter(queued, client):
    rows = queued.json("queue", "show", "--helper", "qc", "--limit", "3")
    assert len(rows) == 3
    assert {r["helper"] for r in rows} == {"qc"}
    times = [ts(r["execution_time"]) for r in rows]
    assert times == sorted(times)
    assert all(t % 900 == 0 for t in times)
    every_qc = [m for m in client.zrange("internalExecutionQueue", 0, -1) if m.startswith("qc:")]
    assert [r["execution_id"] for r in rows] == every_qc[:3]
    assert len(queued.json("queue", "show", "-n", "1")) == 1


def test_queue_show_human(queued, client):
    result = queued("queue", "show", "--limit", "5", check=0)
    for member in client.zrange("internalExecutionQueue", 0, 4):
        assert member in result.stdout
    assert "\x1b" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_queue_show_unknown_helper_is_empty(queued):
    assert queued.json("queue", "show", "--helper", "nobody") == []


def test_queue_show_empty(cli):
    result = cli("queue", "show", check=0)
    assert result.stdout == ""
    assert len(lines(result.stderr)) == 1
    assert cli.json("queue", "show") == []


@pytest.mark.parametrize("args", [["--limit", "0"], ["--limit", "abc"], ["--helper", "bad name!"]])
def test_queue_show_bad_options(queued, args):
    result = queued("queue", "show", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# history


@pytest.fixture()
def history(cli, make_helper, register, seeder):
    make_helper("alpha", {"type": "interval", "interval_seconds": 600})
    make_helper("beta", {"type": "interval", "interval_seconds": 900})
    register()
    now = time.time()
    base = int(now) - 6 * 3600
    ids = {
        "old": seeder.finished("alpha", base, "success", finished_at=now - 3 * 3600),
        "err": seeder.finished(
            "alpha", base + 10, "error", finished_at=now - 60, error="ValueError: boom", reason="raised"
        ),
        "exp": seeder.finished("beta", base + 20, "expired", finished_at=now - 30),
        "new": seeder.finished("beta", base + 30, "success", finished_at=now - 10),
    }
    return cli, ids


def test_history_json_newest_first(history):
    cli, ids = history
    rows = cli.json("history")
    assert [r["execution_id"] for r in rows] == [ids["new"], ids["exp"], ids["err"], ids["old"]]
    for row in rows:
        assert EXECUTION_KEYS <= set(row)
        ts(row["execution_time"])
        ts(row["finished_at"])
    finished = [ts(r["finished_at"]) for r in rows]
    assert finished == sorted(finished, reverse=True)
    by_id = {r["execution_id"]: r for r in rows}
    assert by_id[ids["err"]]["status"] == "error"
    assert by_id[ids["err"]]["error"] == "ValueError: boom"
    assert by_id[ids["exp"]]["status"] == "expired"
    assert by_id[ids["exp"]]["started_at"] is None
    assert by_id[ids["new"]]["status"] == "success"
    assert by_id[ids["new"]]["started_at"] is not None


def test_history_filters(history):
    cli, ids = history
    assert [r["execution_id"] for r in cli.json("history", "--helper", "alpha")] == [ids["err"], ids["old"]]
    assert [r["execution_id"] for r in cli.json("history", "--status", "success")] == [ids["new"], ids["old"]]
    assert [r["execution_id"] for r in cli.json("history", "--status", "error")] == [ids["err"]]
    assert [r["execution_id"] for r in cli.json("history", "--status", "expired")] == [ids["exp"]]
    assert [r["execution_id"] for r in cli.json("history", "--since", "2h")] == [ids["new"], ids["exp"], ids["err"]]
    assert [r["execution_id"] for r in cli.json("history", "--since", "45s")] == [ids["new"], ids["exp"]]
    assert [r["execution_id"] for r in cli.json("history", "--since", "1h30m")] == [ids["new"], ids["exp"], ids["err"]]
    assert [r["execution_id"] for r in cli.json("history", "--since", "4h")] == [
        ids["new"],
        ids["exp"],
        ids["err"],
        ids["old"],
    ]
    assert [r["execution_id"] for r in cli.json("history", "--limit", "2")] == [ids["new"], ids["exp"]]
    assert [r["execution_id"] for r in cli.json("history", "--helper", "beta", "--status", "success")] == [ids["new"]]
    assert cli.json("history", "--helper", "nobody") == []


def test_history_human(history):
    cli, ids = history
    result = cli("history", check=0)
    for execution_id in ids.values():
        assert execution_id in result.stdout
    assert "ValueError: boom" in result.stdout
    assert "\x1b" not in result.stdout


def test_history_empty(cli):
    result = cli("history", check=0)
    assert result.stdout == ""
    assert len(lines(result.stderr)) == 1
    assert cli.json("history") == []


@pytest.mark.parametrize(
    "args",
    [
        ["--status", "bogus"],
        ["--status", "queued"],
        ["--status", "running"],
        ["--since", "xyz"],
        ["--since", "2 hours"],
        ["--since", "-5m"],
        ["--since", ""],
        ["--limit", "0"],
        ["--helper", "bad name!"],
    ],
)
def test_history_invalid_options_exit_2(history, args):
    cli, _ = history
    result = cli("history", *args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert len(lines(result.stderr)) >= 1
    assert "Traceback" not in result.stdout + result.stderr


def test_history_invalid_status_message_names_value(history):
    cli, _ = history
    result = cli("history", "--status", "bogus", check=2)
    assert lines(result.stderr) == [lines(result.stderr)[0]] and "bogus" in result.stderr
    result = cli("history", "--since", "xyz", check=2)
    assert len(lines(result.stderr)) == 1 and "xyz" in result.stderr


# ---------------------------------------------------------------------------------------------
# status


def status_json(cli):
    import json

    result = cli("status", "--json")
    assert result.exit_code in (0, 3), (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_status_json_shape(queued, client, redis_url):
    data = status_json(queued)
    for key in ("system_status", "available_helpers", "total_queued_executions", "dispatcher", "timestamp", "backend"):
        assert key in data, key
    assert set(data["dispatcher"]) >= {"registered_helpers", "running_executions", "dispatcher_running"}
    assert data["system_status"] == "stopped"
    assert data["available_helpers"] == 3
    assert data["dispatcher"]["registered_helpers"] == 3
    assert data["dispatcher"]["running_executions"] == 0
    assert data["dispatcher"]["dispatcher_running"] is False
    assert data["total_queued_executions"] == client.zcard("internalExecutionQueue")
    assert abs(ts(data["timestamp"]) - time.time()) < 30
    assert data["backend"]["kind"] == "redis"
    assert data["backend"]["url"] == redis_url


# Regression: `from ..redischeck import check` once shadowed the `--check` flag in cli/status.py,
# so plain `status` exited 3 whenever no dispatcher was alive (fixed in 7ac34c0).
@pytest.mark.parametrize("args", [[], ["--json"]], ids=["text", "json"])
def test_status_without_check_exits_0_when_no_dispatcher(queued, args):
    result = queued("status", *args)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)


def test_status_sees_a_live_dispatcher(queued, client):
    live_dispatcher(client, "testhost-1-abcd", ttl=30)
    data = queued.json("status")
    assert data["system_status"] == "running"
    assert data["dispatcher"]["dispatcher_running"] is True
    assert [d["id"] for d in data["dispatchers"]] == ["testhost-1-abcd"]
    result = queued("status", "--check", check=0)
    assert "testhost-1-abcd" in result.stdout


def test_status_check_exits_3_without_dispatcher(queued):
    result = queued("status", "--check")
    assert result.exit_code == 3


def test_status_human(queued):
    result = queued("status")
    assert "stopped" in result.stdout
    assert "3 registered" in result.stdout
    assert "\x1b" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
