"""Operator tools against a real Redis (the core, a manual clock): run now, cancel, the audit
trail, and how a manual id goes through the claim, the finish, the metrics and the planner."""

from __future__ import annotations

import json

import pytest

from queuectl.domain import keys
from queuectl.domain.audit import Actor
from queuectl.domain.errors import InvalidInput, InvalidSchedule, UnknownHelper
from queuectl.domain.ids import is_manual, manual_execution_id, split_execution_id
from queuectl.domain.models import format_time
from queuectl.store import audit, cancel, control, manual, views
from queuectl.store.planner import keep_seconds
from queuectl.store.scripts import ClaimRequest, Outcome
from support import NOW, add_helper, queued, register, snapshot

KEEP = keep_seconds(86400)
HOURLY = {"type": "interval", "interval_seconds": 3600, "priority": 4, "expiry": 600}
ALICE = Actor(who="alice@box", via="cli", reason="deploy 42")


@pytest.fixture()
def hourly(app, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "hourly", HOURLY)
    register(app, d)
    return d


def claim(app, owner="d1-1-aaaa"):
    now = app.clock.time()
    return app.scripts.claim(
        ClaimRequest(
            now=format_time(now),
            limit=10,
            owner=owner,
            lease_until=format_time(now + 30),
            token_prefix=f"{owner}:1",
            scan=100,
            keep=KEEP,
        )
    )


def test_manual_ids_never_read_as_planned_ones():
    mid = manual_execution_id("checkIn", 1796032800.123, "0a1b")
    assert mid == "checkIn:manual-1796032800123-0a1b"
    assert split_execution_id(mid) == ("checkIn", 1796032800)
    assert split_execution_id("checkIn:1796032800") == ("checkIn", 1796032800)
    assert is_manual(mid) and not is_manual("checkIn:1796032800")
    for bad in ("checkIn", "checkIn:", ":123", "checkIn:manual-12-xyz", "checkIn:1796032800#1", "a:١٢٣"):
        assert split_execution_id(bad) is None, bad


def test_run_now_queues_a_hash_due_now_with_its_audit_entry(app, client, hourly):
    app.clock.advance(0.25)
    ex = manual.run_now(app, manual.run_request("hourly"), ALICE)
    assert is_manual(ex.execution_id) and ex.execution_id.startswith("hourly:manual-")
    data = client.hgetall(keys.execution_key(ex.execution_id))
    assert data["status"] == "queued" and data["trigger"] == "manual"
    assert data["executionTime"] == str(NOW) and data["priority"] == "4" and data["executionExpiry"] == "600"
    assert data["requestedBy"] == "alice@box" and data["requestReason"] == "deploy 42"
    assert client.zscore(keys.EXECUTION_QUEUE, ex.execution_id) == NOW * 10 + 4
    [entry] = audit.query(client)
    assert (entry.action, entry.helper, entry.execution_id, entry.who, entry.reason) == (
        "run",
        "hourly",
        ex.execution_id,
        "alice@box",
        "deploy 42",
    )
    assert views.helper(app, "hourly").data["last_change"]["action"] == "run"


def test_a_manual_run_is_claimed_and_finished_like_a_planned_one(app, client, hourly):
    # the planned occurrence due now runs first; the manual run of the same helper waits for it
    # (no overlap), then is claimed with the execution time its id says
    ex = manual.run_now(app, manual.run_request("hourly", priority=1), ALICE)
    first = claim(app)
    assert [c.execution_id for c in first.claimed] == [ex.execution_id]  # priority 1 before the planned 4
    [c] = first.claimed
    assert (c.helper, c.execution_time, c.priority, c.expiry) == ("hourly", NOW, 1, 600)
    assert not first.anomalies
    assert claim(app).claimed == []  # hourly is running: no second one
    app.clock.advance(2)
    written = app.scripts.finish(
        now=format_time(app.clock.time()),
        keep=KEEP,
        outcomes=[Outcome(execution_id=c.execution_id, token=c.token, status="success", started=NOW + 0.5)],
    )
    assert written == [1]
    assert client.hget(keys.execution_key(ex.execution_id), "status") == "success"
    assert client.hget(keys.METRICS, "runs|hourly|success") == "1"  # counted under its helper
    detail = views.execution_detail(app, ex.execution_id)
    assert [name for name, _ in detail.timeline] == ["created", "due", "claimed", "started", "finished"]
    assert detail.lateness == 0.5
    assert detail.data["trigger"] == "manual" and detail.data["requested_by"] == "alice@box"


def test_run_refuses_unknown_and_broken_helpers_and_changes_nothing(app, client, hourly):
    add_helper(hourly, "gone", HOURLY)
    register(app, hourly)
    (hourly / "gone.py").unlink()
    register(app, hourly)
    before = snapshot(client)
    with pytest.raises(UnknownHelper):
        manual.run_now(app, manual.run_request("nosuch"), ALICE)
    with pytest.raises(InvalidInput, match="missing"):
        manual.run_now(app, manual.run_request("gone"), ALICE)
    for bad in ({"priority": 0}, {"priority": 6}, {"timeout": 5.0}):
        with pytest.raises(InvalidInput):
            manual.run_request("hourly", **bad)
    assert snapshot(client) == before


def test_a_disabled_helper_runs_on_purpose_and_disable_keeps_manual_runs(app, client, hourly):
    control.set_enabled(app, "hourly", False, actor=ALICE)
    ex = manual.run_now(app, manual.run_request("hourly"), ALICE)
    assert queued(client, "hourly") == [ex.execution_id]
    control.set_enabled(app, "hourly", True, actor=ALICE)
    control.set_enabled(app, "hourly", False, actor=ALICE)  # removes the planned ones only
    assert queued(client, "hourly") == [ex.execution_id]


def test_cancel_a_queued_execution_and_a_waiting_retry(app, client, hourly):
    planned = queued(client, "hourly")[0]
    report = cancel.cancel(app, planned, ALICE)
    assert report.outcome == "cancelled"
    data = client.hgetall(keys.execution_key(planned))
    assert data["status"] == "cancelled" and data["reason"] == "cancelled"
    assert data["error"] == "cancelled by alice@box: deploy 42"
    assert planned not in queued(client) and client.zscore(keys.EXECUTION_HISTORY, planned) is not None
    assert client.ttl(keys.execution_key(planned)) > 0
    assert client.hget(keys.METRICS, "runs|hourly|cancelled") == "1"
    assert [e.execution_id for e in views.history(app, views.history_query(status="cancelled"))] == [planned]
    # a failed attempt waiting for its retry counts as queued
    ex = manual.run_now(app, manual.run_request("hourly"), ALICE)
    [c] = claim(app).claimed
    assert c.execution_id == ex.execution_id
    app.scripts.finish(
        now=format_time(NOW + 1),
        keep=KEEP,
        outcomes=[Outcome(execution_id=c.execution_id, token=c.token, status="error", error="boom", retry_at=NOW + 60)],
    )
    assert client.hget(keys.execution_key(ex.execution_id), "status") == "queued"
    assert cancel.cancel(app, ex.execution_id, ALICE).outcome == "cancelled"
    detail = views.execution_detail(app, ex.execution_id)
    assert detail.execution.status == "cancelled"
    assert [a.execution_id for a in detail.attempts] == [f"{ex.execution_id}#1"]
    assert [e.action for e in audit.query(client, helper="hourly")] == ["cancel", "run", "cancel"]


def test_cancel_of_a_finished_or_unknown_execution_changes_nothing(app, client, hourly):
    planned = queued(client, "hourly")[0]
    cancel.cancel(app, planned, ALICE)
    before = snapshot(client)
    with pytest.raises(cancel.AlreadyFinished, match="cancelled"):
        cancel.cancel(app, planned, ALICE)
    for unknown in ("hourly:1", "hourly:manual-1-abcd", "nosuch:123", "no id", "hourly:12#1"):
        with pytest.raises(cancel.UnknownToCancel) as caught:
            cancel.cancel(app, unknown, ALICE)
        assert caught.value.exit_code == 1
    assert snapshot(client) == before


def test_cancel_of_a_running_execution_asks_its_dispatcher(app, client, hourly):
    planned = queued(client, "hourly")[0]
    [c] = claim(app, owner="d9-9-beef").claimed
    report = cancel.cancel(app, planned, ALICE, grace=3)
    assert (report.outcome, report.dispatcher) == ("requested", "d9-9-beef")
    request = json.loads(client.hget(keys.cancel_key("d9-9-beef"), planned))
    assert request == {"grace": 3.0, "error": "cancelled by alice@box: deploy 42"}
    assert 0 < client.ttl(keys.cancel_key("d9-9-beef")) <= 3 + cancel.REQUEST_TTL
    assert client.hget(keys.execution_key(planned), "status") == "running"  # its dispatcher ends it
    # what the dispatcher writes when the helper has been stopped
    assert app.scripts.finish(
        now=format_time(NOW + 1),
        keep=KEEP,
        outcomes=[
            Outcome(
                execution_id=c.execution_id,
                token=c.token,
                status="cancelled",
                error=request["error"],
                reason="cancelled",
            )
        ],
    ) == [1]
    assert client.hget(keys.execution_key(planned), "status") == "cancelled"
    assert client.hget(keys.METRICS, "runs|hourly|cancelled") == "1"


def test_cancel_in_the_compact_layout(app, client, tmp_path):
    from dataclasses import replace

    app.settings = replace(app.settings, compact_queue=True)
    d = tmp_path / "helpers"
    add_helper(d, "hourly", HOURLY)
    register(app, d)
    planned = queued(client, "hourly")[0]
    assert not client.exists(keys.execution_key(planned))
    assert cancel.cancel(app, planned, ALICE).outcome == "cancelled"
    data = client.hgetall(keys.execution_key(planned))
    assert (data["status"], data["helper"], data["executionTime"]) == ("cancelled", "hourly", planned.split(":")[1])


def test_every_change_is_audited_with_the_schedules_and_a_refused_one_is_not(app, client, hourly):
    control.set_enabled(app, "hourly", False, actor=ALICE)
    control.update(app, "hourly", {"priority": 2}, replace=False, actor=Actor(who="ops", via="api"))
    before = snapshot(client)
    with pytest.raises(InvalidSchedule):
        control.update(app, "hourly", {"interval_seconds": 0}, replace=False, actor=ALICE)
    with pytest.raises(UnknownHelper):
        control.set_enabled(app, "nosuch", True, actor=ALICE)
    assert snapshot(client) == before
    control.reset(app, "hourly", actor=ALICE)
    control.set_enabled(app, "hourly", True)  # no actor (internal callers): not an operator change
    entries = audit.query(client)
    assert [e.action for e in entries] == ["reset", "update", "disable"]
    reset, update, disable = entries
    assert disable.before["enabled"] is True and disable.after["enabled"] is False
    assert (update.before["priority"], update.after["priority"], update.who, update.via) == (4, 2, "ops", "api")
    assert update.reason is None and disable.reason == "deploy 42"
    assert reset.after["priority"] == 4 and reset.after["enabled"] is True
    assert [e.action for e in audit.query(client, limit=1)] == ["reset"]
    assert audit.query(client, helper="other") == []
    assert audit.query(client, since=NOW + 1) == []
    assert len(audit.query(client, since=NOW)) == 3
    last = views.helper(app, "hourly").data["last_change"]
    assert (last["action"], last["who"], last["via"]) == ("reset", "alice@box", "cli")


def test_the_audit_stream_is_capped(app, client, hourly, monkeypatch):
    monkeypatch.setattr("queuectl.domain.audit.AUDIT_MAXLEN", 100)
    for i in range(400):
        control.set_enabled(app, "hourly", i % 2 == 0, actor=ALICE)
    assert 100 <= client.xlen(keys.AUDIT) < 400
