"""`queuectl helpers run`, `executions show|cancel`, `audit` and `--reason` through the Typer app
(no dispatcher: what runs is tested in tests/e2e/test_operator_run.py)."""

from __future__ import annotations

import getpass
import json
import socket

HOURLY = {"type": "interval", "interval_seconds": 3600, "priority": 4, "expiry": 600}


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def me() -> str:
    return f"{getpass.getuser()}@{socket.gethostname().split('.')[0]}"


def test_run_prints_the_id_and_queues_it(cli, client, make_helper, register):
    make_helper("hourly", HOURLY)
    register()
    result = cli("helpers", "run", "hourly", "--priority", "2", "--reason", "deploy", check=0)
    execution_id = result.stdout.strip()
    assert execution_id.startswith("hourly:manual-") and "\n" not in execution_id
    assert client.zscore("internalExecutionQueue", execution_id) is not None
    shown = cli.json("executions", "show", execution_id)
    assert (shown["status"], shown["trigger"], shown["priority"], shown["requested_by"]) == (
        "queued",
        "manual",
        2,
        me(),
    )
    assert shown["request_reason"] == "deploy" and [t["event"] for t in shown["timeline"]] == ["created", "due"]
    human = cli("executions", "show", execution_id, check=0).stdout
    assert "manual by " + me() in human and "timeline:" in human
    [entry] = cli.json("audit")
    assert (entry["action"], entry["execution_id"], entry["who"], entry["via"], entry["reason"]) == (
        "run",
        execution_id,
        me(),
        "cli",
        "deploy",
    )


def test_run_wait_timeout_exits_124_with_the_record(cli, make_helper, register):
    make_helper("hourly", HOURLY)
    register()
    result = cli("helpers", "run", "hourly", "--wait", "--timeout", "0.6", "--json", check=124)
    record = json.loads(result.stdout)
    assert record["status"] == "queued" and record["trigger"] == "manual"
    result = cli("helpers", "run", "hourly", "--wait", "--timeout", "0.5", check=124)
    assert result.stdout.strip().startswith("hourly:manual-")
    assert "still queued after 0.5 s" in result.stderr


def test_run_refusals_exit_2_and_change_nothing(cli, client, make_helper, register, snapshot):
    make_helper("hourly", HOURLY)
    register()
    before = snapshot()
    for args, message in (
        (("nosuch",), "unknown helper: 'nosuch'"),
        (("bad name!",), "unknown helper"),
        (("hourly", "--timeout", "5"), "--timeout needs --wait"),
        (("hourly", "--priority", "9"), "invalid priority 9"),
        (("hourly", "--reason", "two\nlines"), "control characters"),
        (("hourly", "--reason", "x" * 501), "at most 500"),
    ):
        result = cli("helpers", "run", *args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        no_traceback(result)
    assert snapshot() == before


def test_cancel_queued_then_again_and_unknown(cli, client, make_helper, register):
    make_helper("hourly", HOURLY)
    register()
    execution_id = cli("helpers", "run", "hourly", check=0).stdout.strip()
    result = cli("executions", "cancel", execution_id, "--reason", "wrong button", check=0)
    assert "cancelled" in result.stdout
    assert client.hget(f"execution:{execution_id}", "status") == "cancelled"
    again = cli("executions", "cancel", execution_id, check=1)
    assert "already finished (cancelled)" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    unknown = cli("executions", "cancel", "hourly:123", check=1)
    assert "unknown execution" in unknown.stderr
    no_traceback(unknown)
    assert cli("executions", "cancel", execution_id, "--grace", "-1").exit_code == 2
    history = cli.json("history", "--status", "cancelled")
    assert [h["execution_id"] for h in history] == [execution_id]
    assert history[0]["error"] == f"cancelled by {me()}: wrong button"
    assert [e["action"] for e in cli.json("audit", "--helper", "hourly")] == ["cancel", "run"]


def test_reason_on_changes_shows_in_audit_and_helpers_show(cli, make_helper, register, snapshot):
    make_helper("hourly", HOURLY)
    register()
    cli("helpers", "disable", "hourly", "--reason", "noisy", check=0)
    before = snapshot()
    bad = cli("helpers", "update", "hourly", "--interval-seconds", "0", "--reason", "oops")
    assert bad.exit_code == 2
    assert snapshot() == before  # a refused change records nothing
    cli("helpers", "update", "hourly", "--priority", "1", "--reason", "urgent", check=0)
    cli("helpers", "reset", "hourly", check=0)
    rows = cli.json("audit", "--limit", "10")
    assert [(r["action"], r["reason"]) for r in rows] == [("reset", None), ("update", "urgent"), ("disable", "noisy")]
    assert rows[1]["before"]["priority"] == 4 and rows[1]["after"]["priority"] == 1
    assert cli.json("audit", "--since", "1h", "--limit", "1")[0]["action"] == "reset"
    assert cli.json("helpers", "show", "hourly")["last_change"]["action"] == "reset"
    shown = [ln for ln in cli("helpers", "show", "hourly", check=0).stdout.splitlines() if ln.startswith("last change")]
    assert len(shown) == 1 and "reset by " + me() + " (cli)" in shown[0]
    table = cli("audit", check=0).stdout
    assert "disable" in table and "noisy" in table and "priority=1" in table
    assert cli("audit", "--since", "soon").exit_code == 2
    assert "No recorded changes match." in cli("audit", "--helper", "other", check=0).stderr


def test_run_refuses_a_broken_helper(cli, client, helpers_dir, make_helper, register, snapshot):
    make_helper("hourly", HOURLY)
    register()
    (helpers_dir / "hourly.py").write_text("raise RuntimeError('half saved')\n")
    register()
    assert client.hget("internalAvailableHelpers", "hourly") and "broken" in client.hget(
        "internalAvailableHelpers", "hourly"
    )
    before = snapshot()
    result = cli("helpers", "run", "hourly", check=2)
    assert "helper 'hourly' is broken" in result.stderr and "not run" in result.stderr
    no_traceback(result)
    assert snapshot() == before
