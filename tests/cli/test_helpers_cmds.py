"""`queuectl helpers sync|list|show|enable|disable|update|reset` through the Typer app."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

INTERVAL = {"type": "interval", "interval_seconds": 600, "priority": 2}
DAILY = {"type": "daily", "time": "08:30:00", "priority": 1, "expiry": 1800}
CRON = {"type": "cron", "cron": "*/15 * * * *", "priority": 4}
OFF = {"type": "interval", "interval_seconds": 300, "enabled": False}

HELPER_KEYS = {"name", "enabled", "schedule", "next_run", "overridden", "status"}
CHANGE_KEYS = {
    "helper",
    "name",
    "enabled",
    "schedule",
    "overridden",
    "changed",
    "executions_removed",
    "executions_created",
}


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def queued_members(client, helper: str) -> list[str]:
    return [m for m in client.zrange("internalExecutionQueue", 0, -1) if m.rpartition(":")[0] == helper]


def catalog_entry(client, helper: str) -> dict:
    """The stored entry, with what the JSON leaves implied (no override: none) filled in."""
    raw = client.hget("internalAvailableHelpers", helper)
    assert raw is not None, f"{helper} not registered"
    return {"override": None, **json.loads(raw)}


def iso_with_offset(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None, f"{text!r} has no UTC offset"
    return parsed


@pytest.fixture()
def four(cli, make_helper, register):
    """Four helpers (interval, daily, cron, disabled), registered and planned."""
    make_helper("pulse", INTERVAL)
    make_helper("morning", DAILY)
    make_helper("report", CRON)
    make_helper("sleepy", OFF)
    register()
    return cli


# ---------------------------------------------------------------------------------------------
# sync


def test_sync_registers_helpers_and_plans(cli, make_helper, client):
    make_helper("pulse", INTERVAL)
    make_helper("morning", DAILY)
    result = cli("helpers", "sync", check=0)
    no_traceback(result)
    assert set(client.hkeys("internalAvailableHelpers")) == {"pulse", "morning"}
    assert catalog_entry(client, "pulse")["schedule"]["interval_seconds"] == 600
    assert catalog_entry(client, "morning")["schedule"]["time"] == "08:30:00"
    # 2 h window: 12 or 13 interval occurrences, plus 0 or 1 daily
    assert len(queued_members(client, "pulse")) >= 12
    assert "2 helpers registered" in result.stdout


def test_sync_json_report(cli, make_helper):
    make_helper("pulse", INTERVAL)
    data = cli.json("helpers", "sync")
    assert data["registered"] == ["pulse"]
    assert data["executions_created"] >= 12
    again = cli.json("helpers", "sync")
    assert again["registered"] == [] and again["unchanged"] == ["pulse"]
    assert again["executions_created"] == 0


def test_sync_reports_syntax_error_by_file_name_and_registers_the_rest(cli, make_helper, write_file, client):
    make_helper("pulse", INTERVAL)
    make_helper("morning", DAILY)
    write_file("broken_file.py", "def oops(:\n    pass\n")
    result = cli("helpers", "sync", check=0)
    no_traceback(result)
    assert "broken_file.py" in result.stderr
    assert "SyntaxError" in result.stderr
    assert "broken_file.py" not in result.stdout
    assert set(client.hkeys("internalAvailableHelpers")) == {"pulse", "morning"}
    assert queued_members(client, "pulse")


def test_sync_duplicate_names_exit_2_names_both_files_and_changes_nothing(cli, make_helper, snapshot, register):
    make_helper("pulse", INTERVAL)
    register()
    first = cli.helpers_dir / "pulse.py"
    second = make_helper("pulse", {"type": "interval", "interval_seconds": 60}, filename="another.py", cls="Other")
    make_helper("fresh", DAILY)  # a new, valid helper must not be registered either
    before = snapshot()
    result = cli("helpers", "sync", check=2)
    no_traceback(result)
    assert first.name in result.stderr and second.name in result.stderr
    assert len(lines(result.stderr)) == 1
    assert result.stdout == ""
    assert snapshot() == before


def test_sync_on_empty_database_with_duplicates_writes_nothing(cli, make_helper, snapshot, client):
    make_helper("twin", INTERVAL, filename="a.py", cls="A")
    make_helper("twin", INTERVAL, filename="b.py", cls="B")
    before = snapshot()
    cli("helpers", "sync", check=2)
    assert snapshot() == before
    assert client.dbsize() == 0


def test_sync_marks_a_removed_file_missing_and_unplans_it(cli, make_helper, client):
    make_helper("pulse", INTERVAL)
    gone = make_helper("morning", DAILY)
    cli("helpers", "sync", check=0)
    gone.unlink()
    data = cli.json("helpers", "sync")
    assert data["missing"] == ["morning"]
    assert queued_members(client, "morning") == []
    assert queued_members(client, "pulse")
    rows = {r["name"]: r for r in cli.json("helpers", "list")}
    assert rows["morning"]["status"] == "missing"
    assert rows["morning"]["next_run"] is None
    assert rows["pulse"]["status"] == "ok"


def test_sync_json_lists_load_errors(cli, make_helper, write_file):
    make_helper("pulse", INTERVAL)
    write_file("oops.py", "raise RuntimeError('import-time failure')\n")
    result = cli("helpers", "sync", "--json", check=0)
    data = json.loads(result.stdout)
    assert data["registered"] == ["pulse"]
    assert [Path(e["source"]).name for e in data["load_errors"]] == ["oops.py"]
    assert "import-time failure" in data["load_errors"][0]["reason"]
    assert "oops.py" in result.stderr


def test_sync_reports_an_invalid_schedule_as_broken(cli, make_helper, client):
    make_helper("pulse", INTERVAL)
    make_helper("wrong", {"type": "daily", "time": "25:00"})
    result = cli("helpers", "sync", check=0)
    assert "wrong" in result.stderr
    rows = {r["name"]: r for r in cli.json("helpers", "list")}
    assert rows["wrong"]["status"] == "broken"
    assert "time" in rows["wrong"]["problem"]
    assert queued_members(client, "wrong") == []
    assert queued_members(client, "pulse")


def test_helpers_dir_flag_wins_over_env(cli, make_helper, tmp_path, client):
    other = tmp_path / "other-helpers"
    make_helper("elsewhere", INTERVAL, directory=other)
    make_helper("pulse", INTERVAL)
    cli("--helpers-dir", str(other), "helpers", "sync", check=0)
    assert client.hkeys("internalAvailableHelpers") == ["elsewhere"]


# ---------------------------------------------------------------------------------------------
# list


def test_list_json_shape(four):
    rows = four.json("helpers", "list")
    assert isinstance(rows, list)
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"pulse", "morning", "report", "sleepy"}
    for row in rows:
        assert HELPER_KEYS <= set(row), row
        assert isinstance(row["enabled"], bool)
        assert isinstance(row["overridden"], bool)
        assert row["status"] == "ok"
        assert isinstance(row["schedule"], dict) and "type" in row["schedule"]
        if row["next_run"] is not None:
            iso_with_offset(row["next_run"])
    assert by_name["pulse"]["schedule"]["type"] == "interval"
    assert by_name["pulse"]["schedule"]["interval_seconds"] == 600
    assert by_name["pulse"]["schedule"]["priority"] == 2
    assert by_name["morning"]["schedule"]["type"] == "daily"
    assert by_name["morning"]["schedule"]["time"] == "08:30:00"
    assert by_name["morning"]["schedule"]["expiry"] == 1800
    assert by_name["report"]["schedule"]["type"] == "cron"
    assert by_name["report"]["schedule"]["cron"] == "*/15 * * * *"
    assert by_name["sleepy"]["enabled"] is False
    assert by_name["sleepy"]["next_run"] is None
    now = time.time()
    pulse_next = iso_with_offset(by_name["pulse"]["next_run"]).timestamp()
    assert now - 1 <= pulse_next <= now + 601
    assert pulse_next % 600 == 0
    morning_next = iso_with_offset(by_name["morning"]["next_run"])
    assert (morning_next.hour, morning_next.minute, morning_next.second) == (8, 30, 0)
    assert morning_next.utcoffset().total_seconds() == 0  # QUEUECTL_TIMEZONE=UTC


def test_list_human_output_has_names_and_no_ansi(four):
    result = four("helpers", "list", check=0)
    for name in ("pulse", "morning", "report", "sleepy"):
        assert name in result.stdout
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    no_traceback(result)


def test_list_empty_catalog(cli):
    result = cli("helpers", "list", check=0)
    assert result.stdout == ""
    assert len(lines(result.stderr)) == 1
    assert cli.json("helpers", "list") == []


# ---------------------------------------------------------------------------------------------
# show


def test_show_json_has_queued_and_recent(four, seeder, client):
    t = int(time.time()) - 5 * 3600
    done = seeder.finished("pulse", t, "success", finished_at=time.time() - 60)
    data = four.json("helpers", "show", "pulse")
    assert HELPER_KEYS <= set(data)
    assert data["name"] == "pulse"
    assert isinstance(data["queued"], list) and isinstance(data["recent"], list)
    assert data["queued"], "pulse has queued executions"
    assert all(e["helper"] == "pulse" and e["status"] == "queued" for e in data["queued"])
    assert [e["execution_id"] for e in data["recent"]] == [done]
    assert data["recent"][0]["status"] == "success"
    queue_ids = queued_members(client, "pulse")
    assert [e["execution_id"] for e in data["queued"]] == queue_ids[: len(data["queued"])]


def test_show_human(four):
    result = four("helpers", "show", "morning", check=0)
    assert "morning" in result.stdout
    assert "08:30:00" in result.stdout
    assert "\x1b" not in result.stdout
    no_traceback(result)


@pytest.mark.parametrize("as_json", [False, True])
def test_show_unknown_helper(four, as_json):
    args = ["helpers", "show", "nosuchhelper"] + (["--json"] if as_json else [])
    result = four(*args, check=2)
    assert result.stdout == ""
    assert len(lines(result.stderr)) == 1
    assert "nosuchhelper" in result.stderr
    no_traceback(result)


# ---------------------------------------------------------------------------------------------
# enable / disable / update / reset


def test_disable_removes_queued_keeps_history_and_persists(four, seeder, client, register):
    t = int(time.time()) - 5 * 3600
    old = seeder.finished("pulse", t, "success", finished_at=time.time() - 30)
    before = queued_members(client, "pulse")
    others_before = {h: queued_members(client, h) for h in ("morning", "report")}
    assert before
    data = four.json("helpers", "disable", "pulse")
    assert set(data) == CHANGE_KEYS
    assert data["name"] == "pulse"
    assert data["enabled"] is False
    assert data["overridden"] is True
    assert data["changed"] is True
    assert data["executions_removed"] == len(before)
    assert data["executions_created"] == 0
    assert data["schedule"]["enabled"] is False
    assert queued_members(client, "pulse") == []
    for member in before:
        assert not client.exists(f"execution:{member}")
    assert {h: queued_members(client, h) for h in ("morning", "report")} == others_before
    # history is kept
    assert client.zscore("internalExecutionHistory", old) is not None
    assert client.hget(f"execution:{old}", "status") == "success"
    assert catalog_entry(client, "pulse")["override"] == {"enabled": False}
    # a second disable changes nothing
    again = four.json("helpers", "disable", "pulse")
    assert again["changed"] is False and again["executions_removed"] == 0
    # re-registering the helpers (sync / dispatcher start-up) keeps the operator's override
    register()
    assert queued_members(client, "pulse") == []
    rows = {r["name"]: r for r in four.json("helpers", "list")}
    assert rows["pulse"]["enabled"] is False and rows["pulse"]["overridden"] is True
    assert rows["pulse"]["next_run"] is None


def test_enable_plans_the_window(four, client):
    data = four.json("helpers", "enable", "sleepy")
    assert set(data) == CHANGE_KEYS
    assert data["enabled"] is True and data["changed"] is True
    assert data["overridden"] is True  # the code says disabled: enabling is an override
    members = queued_members(client, "sleepy")
    assert data["executions_created"] == len(members) >= 24  # every 300 s for 2 h
    assert all(int(m.rpartition(":")[2]) % 300 == 0 for m in members)


def test_disable_then_enable_restores_queue_and_drops_override(four, client):
    before = queued_members(client, "pulse")
    four("helpers", "disable", "pulse", check=0)
    data = four.json("helpers", "enable", "pulse")
    assert data["enabled"] is True
    assert data["overridden"] is False  # back to what the code says
    after = queued_members(client, "pulse")
    assert data["executions_created"] == len(after)
    assert set(before) <= set(after) | {before[0]}  # the head may have slipped out of the window


def test_disable_human_output(four, client):
    n = len(queued_members(client, "report"))
    result = four("helpers", "disable", "report", check=0)
    assert result.stdout.startswith("report: disabled")
    assert f"{n} queued executions removed" in result.stdout


def test_update_priority_replans_queue(four, client):
    data = four.json("helpers", "update", "pulse", "--priority", "5")
    assert set(data) == CHANGE_KEYS
    assert data["changed"] is True and data["overridden"] is True
    assert data["schedule"]["priority"] == 5
    assert data["schedule"]["interval_seconds"] == 600  # the rest of the schedule is kept
    members = queued_members(client, "pulse")
    assert data["executions_created"] == len(members) > 0
    for member in members:
        assert int(client.zscore("internalExecutionQueue", member)) % 10 == 5


def test_update_interval_seconds(four, client):
    data = four.json("helpers", "update", "pulse", "--interval-seconds", "120")
    assert data["schedule"]["interval_seconds"] == 120
    members = queued_members(client, "pulse")
    assert len(members) >= 60
    assert all(int(m.rpartition(":")[2]) % 120 == 0 for m in members)
    assert data["executions_removed"] > 0


def test_update_interval_minutes(four, client):
    data = four.json("helpers", "update", "pulse", "--interval-minutes", "20")
    assert data["schedule"]["interval_seconds"] == 1200
    assert all(int(m.rpartition(":")[2]) % 1200 == 0 for m in queued_members(client, "pulse"))


def test_update_daily_time(four, client):
    data = four.json("helpers", "update", "morning", "--time", "07:15")
    assert data["schedule"]["time"] == "07:15:00"
    for member in queued_members(client, "morning"):
        dt = datetime.utcfromtimestamp(int(member.rpartition(":")[2]))
        assert (dt.hour, dt.minute, dt.second) == (7, 15, 0)
    row = {r["name"]: r for r in four.json("helpers", "list")}["morning"]
    nxt = iso_with_offset(row["next_run"])
    assert (nxt.hour, nxt.minute) == (7, 15)


def test_update_change_type_with_flags(four, client):
    data = four.json("helpers", "update", "morning", "--type", "interval", "--interval-seconds", "900")
    assert data["schedule"]["type"] == "interval"
    assert data["schedule"]["interval_seconds"] == 900
    assert "time" not in data["schedule"]
    members = queued_members(client, "morning")
    assert len(members) >= 8
    assert all(int(m.rpartition(":")[2]) % 900 == 0 for m in members)


def test_update_with_config_replaces_schedule(four, client):
    body = json.dumps({"schedule": {"type": "cron", "cron": "*/10 * * * *", "priority": 2}})
    data = four.json("helpers", "update", "pulse", "--config", body)
    assert data["schedule"]["type"] == "cron"
    assert data["schedule"]["cron"] == "*/10 * * * *"
    assert data["schedule"]["priority"] == 2
    assert "interval_seconds" not in data["schedule"]
    members = queued_members(client, "pulse")
    assert members and all(int(m.rpartition(":")[2]) % 600 == 0 for m in members)


def test_update_timezone_and_expiry(four, client):
    # a time half an hour ahead in Berlin, so the window holds an execution whatever the clock
    soon = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(minutes=30)).strftime("%H:%M")
    data = four.json("helpers", "update", "morning", "--timezone", "Europe/Berlin", "--time", soon, "--expiry", "60")
    assert data["schedule"]["timezone"] == "Europe/Berlin"
    assert data["schedule"]["expiry"] == 60
    assert catalog_entry(client, "morning")["expiry"] == 60  # what claim.lua gives a planned execution
    queued = four.json("queue", "show", "--helper", "morning")
    assert [e["execution_id"] for e in queued] == queued_members(client, "morning") != []
    assert {e["expiry"] for e in queued} == {60}


def test_reset_drops_override(four, client):
    four("helpers", "update", "pulse", "--priority", "5", "--interval-seconds", "120", check=0)
    data = four.json("helpers", "reset", "pulse")
    assert set(data) == CHANGE_KEYS
    assert data["overridden"] is False
    assert data["changed"] is True
    assert data["schedule"]["interval_seconds"] == 600
    assert data["schedule"]["priority"] == 2
    members = queued_members(client, "pulse")
    assert data["executions_created"] == len(members)
    assert all(int(m.rpartition(":")[2]) % 600 == 0 for m in members)
    assert all(int(client.zscore("internalExecutionQueue", m)) % 10 == 2 for m in members)
    assert catalog_entry(client, "pulse")["override"] is None
    again = four.json("helpers", "reset", "pulse")
    assert again["changed"] is False


def test_reset_of_disabled_by_code_helper_keeps_it_disabled(four, client):
    four("helpers", "enable", "sleepy", check=0)
    assert queued_members(client, "sleepy")
    data = four.json("helpers", "reset", "sleepy")
    assert data["enabled"] is False
    assert queued_members(client, "sleepy") == []


def test_change_human_output_for_update_and_reset(four):
    result = four("helpers", "update", "pulse", "--priority", "4", check=0)
    assert result.stdout.startswith("pulse: updated")
    result = four("helpers", "reset", "pulse", check=0)
    assert result.stdout.startswith("pulse: reset")


@pytest.mark.parametrize("command", ["enable", "disable", "reset", "show"])
def test_unknown_helper_exit_2_and_nothing_changes(four, snapshot, command):
    before = snapshot()
    result = four("helpers", command, "ghost", check=2)
    assert result.stdout == ""
    assert len(lines(result.stderr)) == 1 and "ghost" in result.stderr
    no_traceback(result)
    assert snapshot() == before


@pytest.mark.parametrize("name", ["bad name", "x" * 65, "a:b", "../etc"])
def test_malformed_helper_names_are_refused(four, snapshot, name):
    before = snapshot()
    result = four("helpers", "disable", name, check=2)
    assert result.stdout == ""
    assert len(lines(result.stderr)) == 1
    no_traceback(result)
    assert snapshot() == before


def test_missing_argument_is_usage_error(four):
    result = four("helpers", "show")
    assert result.exit_code == 2
    assert result.stdout == ""
    no_traceback(result)
