"""Refused `helpers update` calls: exit 2, one stderr line naming the key and value, empty
stdout, and Redis byte-identical before and after."""

from __future__ import annotations

import json

import pytest

SCHEDULES = {
    "morning": {"type": "daily", "time": "08:30:00", "priority": 1, "expiry": 1800},
    "pulse": {"type": "interval", "interval_seconds": 600, "priority": 2},
    "report": {"type": "cron", "cron": "*/15 * * * *", "priority": 4},
}

# (helper, args, words the one error line must contain)
CASES = [
    ("morning", ["--time", "25:00"], ["time", "25:00"]),
    ("morning", ["--type", "hourly"], ["type", "hourly"]),
    ("pulse", ["--interval-minutes", "0"], ["interval_minutes", "0"]),
    ("pulse", ["--interval-minutes", "-5"], ["interval_minutes", "-5"]),
    ("report", ["--cron", "61 * * * *"], ["cron", "61 * * * *"]),
    ("pulse", ["--priority", "0"], ["priority", "0"]),
    ("pulse", ["--priority", "6"], ["priority", "6"]),
    ("pulse", ["--expiry", "-1"], ["expiry", "-1"]),
    ("morning", ["--timezone", "Mars/Olympus"], ["timezone", "Mars/Olympus"]),
    ("morning", ["--config", json.dumps({"schedule": {"type": "daily", "time": "08:00", "foo": 1}})], ["foo", "1"]),
    ("morning", ["--config", "not json"], ["--config"]),
    ("morning", ["--config", json.dumps({"schedule": {"type": "daily"}})], ["time"]),
    (
        "morning",
        ["--config", json.dumps({"schedule": {"type": "daily", "time": "08:00"}}), "--priority", "2"],
        ["--config"],
    ),
    ("ghost", ["--priority", "2"], ["ghost"]),
    ("morning", [], []),
    # a few more of the same family
    ("morning", ["--time", "8:30"], ["time", "8:30"]),
    ("morning", ["--time", "23:60"], ["time", "23:60"]),
    ("pulse", ["--interval-seconds", "0"], ["interval_seconds", "0"]),
    ("pulse", ["--interval-minutes", "0.5", "--interval-seconds", "30"], ["interval"]),
    ("pulse", ["--time", "08:00"], ["time", "08:00"]),  # a daily key on an interval helper
    ("report", ["--cron", "* * *"], ["cron", "* * *"]),
    ("morning", ["--timeout", "0"], ["timeout", "0"]),
    ("morning", ["--expiry", "99999999"], ["expiry", "99999999"]),
    ("morning", ["--config", json.dumps({"schedule": {"type": "daily", "time": "08:00"}, "extra": 1})], ["extra"]),
    ("morning", ["--config", json.dumps({"schedule": "daily"})], ["schedule"]),
    (
        "morning",
        ["--config", json.dumps({"schedule": {"type": "daily", "time": "08:00", "priority": True}})],
        ["priority", "True"],
    ),
    ("morning", ["--config", '{"schedule": {"type": "daily", "time": "08:00", "expiry": NaN}}'], ["NaN"]),
    ("morning", ["--config", '{"schedule": {"type": "daily", "type": "cron", "time": "08:00"}}'], ["type"]),
    ("morning", ["--config", "[]"], ["schedule"]),
]


def _id(case) -> str:
    helper, args, _ = case
    return f"{helper}:{' '.join(args) or '(no options)'}"


@pytest.fixture()
def registered(cli, make_helper, register, client):
    for name, schedule in SCHEDULES.items():
        make_helper(name, schedule)
    register()
    assert client.zcard("internalExecutionQueue") > 0
    return cli


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_invalid_update_is_refused_and_changes_nothing(registered, snapshot, case, as_json):
    helper, args, words = case
    before = snapshot()
    argv = ["helpers", "update", helper, *args] + (["--json"] if as_json else [])
    result = registered(*argv)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    err_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err_lines) == 1, result.stderr
    for word in words:
        assert word in err_lines[0], (word, err_lines[0])
    assert "Traceback" not in result.stderr
    assert snapshot() == before


def test_refused_update_keeps_earlier_override(registered, snapshot, client):
    registered("helpers", "update", "pulse", "--priority", "4", check=0)
    before = snapshot()
    registered("helpers", "update", "pulse", "--priority", "9", check=2)
    assert snapshot() == before
    entry = json.loads(client.hget("internalAvailableHelpers", "pulse"))
    assert entry["schedule"]["priority"] == 4
