"""Operator actions against a real Redis: register, enable/disable, update, reset, re-registering
changed/deleted/broken files, concurrent toggles, the status summary, and history query/prune."""

from __future__ import annotations

import json
import os
import random
import threading

import pytest
import redis

from queuectl.domain import keys
from queuectl.domain.errors import ConcurrentChange, InvalidInput, InvalidSchedule, UnknownHelper
from queuectl.domain.models import HelperRecord, format_time
from queuectl.domain.schedule import parse_schedule
from queuectl.infra.app import open_app
from queuectl.infra.config import Settings
from queuectl.runtime import discovery
from queuectl.store import catalog, control, history, queue, status
from queuectl.store.planner import keep_seconds
from queuectl.store.scripts import ClaimRequest, ClaimResult, Outcome, PlanGroup, Scripts
from support import (
    NOW,
    add_helper,
    helper_source,
    ids_of,
    plan_catalog,
    queued,
    register,
    snapshot,
    start_and_join,
    write_helper,
)

KEEP = keep_seconds(86400)
EVERY_10_MIN = {"type": "interval", "interval_minutes": 10}
TEN_MIN_SCHEDULE = {"type": "interval", "interval_seconds": 600, "priority": 3, "enabled": True, "timezone": "UTC"}
TICKER_TIMES = [NOW - 600 + 600 * k for k in range(14)]  # NOW-600 ... NOW+7200
ENTRY_KEYS = {"rev", "status", "schedule", "expiry", "source", "class", "updated_at"}


def entry(client: redis.Redis, name: str) -> dict:
    """One catalog entry with everything the stored JSON leaves implied filled in."""
    r = catalog.decode_entry(name, client.hget(keys.AVAILABLE_HELPERS, name))
    return {
        "name": r.name,
        "rev": r.rev,
        "status": r.status,
        "problem": r.problem,
        "schedule": r.schedule.to_dict() if r.schedule else None,
        "default": r.default.to_dict() if r.default else None,
        "override": r.override,
        "overridden": r.overridden,
        "source": r.source,
        "class": r.class_name,
        "updated_at": r.updated_at,
    }


def ttl_presence(client: redis.Redis) -> dict[str, bool]:
    return {k: client.ttl(k) > 0 for k in sorted(client.keys("*"))}


def claim(scripts: Scripts, *, now: float = NOW, limit: int = 10, skip=(), prefix: str = "t") -> ClaimResult:
    return scripts.claim(
        ClaimRequest(
            now=format_time(now),
            limit=limit,
            owner="d1",
            lease_until=format_time(now + 30),
            token_prefix=prefix,
            scan=1000,
            keep=KEEP,
            skip=skip,
        )
    )


def finish(
    scripts: Scripts, execution_id: str, token: str, *, now: float, status: str = "success", error: str | None = None
) -> None:
    assert scripts.finish(
        now=format_time(now),
        keep=KEEP,
        outcomes=[Outcome(execution_id=execution_id, token=token, status=status, error=error)],
    ) == [1]


# --------------------------------------------------------------------------------------------
# register


def test_register_writes_catalog_entries_as_json(app, client, tmp_path):
    d = tmp_path / "helpers"
    ticker = add_helper(d, "ticker", EVERY_10_MIN, class_name="Ticker")
    add_helper(d, "morning", {"type": "daily", "time": "08:30", "priority": 1, "expiry": 60})

    report = register(app, d)

    assert report.registered == ["morning", "ticker"]
    assert report.plan.created == 14  # morning 08:30 is out of the window
    assert client.get(keys.CATALOG_VERSION) == "1"
    raw = client.hgetall(keys.AVAILABLE_HELPERS)
    assert set(raw) == {"morning", "ticker"}
    data = json.loads(raw["ticker"])
    # the name is the field; a default equal to the schedule, no problem, no override: left out
    assert set(data) == ENTRY_KEYS
    assert isinstance(data["rev"], int) and data["rev"] >= 1
    assert data["status"] == "ok"
    assert data["schedule"] == TEN_MIN_SCHEDULE
    record = catalog.decode_entry("ticker", raw["ticker"])
    assert record.default is not None and record.default.to_dict() == TEN_MIN_SCHEDULE
    assert (record.name, record.override, record.problem) == ("ticker", None, None)
    assert data["source"] == os.path.abspath(ticker)
    assert os.path.isabs(data["source"])
    assert data["class"] == "Ticker"
    assert data["updated_at"] == NOW
    morning = json.loads(raw["morning"])
    assert morning["schedule"] == {
        "type": "daily",
        "time": "08:30:00",
        "priority": 1,
        "expiry": 60,
        "enabled": True,
        "timezone": "UTC",
    }

    # registering the same code again changes nothing
    before = snapshot(client)
    again = register(app, d)
    assert again.registered == [] and again.updated == [] and again.unchanged == ["morning", "ticker"]
    assert again.plan.created == 0
    assert snapshot(client) == before


# --------------------------------------------------------------------------------------------
# enable / disable / reset


def test_disable_removes_queued_keeps_history_survives_restart_and_reset_replans(
    app, client, redis_url, clock, tmp_path
):
    d = tmp_path / "helpers"
    add_helper(d, "alpha", EVERY_10_MIN)
    add_helper(d, "beta", EVERY_10_MIN)
    found = discovery.discover_in_process(d, default_timezone="UTC")
    control.register(app, found, d)
    assert queued(client, "alpha") == ids_of("alpha", TICKER_TIMES)

    # one finished alpha execution (history) and one running beta execution
    tokens = {c.helper: c for c in claim(app.scripts).claimed}
    done = f"alpha:{NOW - 600}"
    assert tokens["alpha"].execution_id == done
    finish(app.scripts, done, tokens["alpha"].token, now=NOW + 5)
    beta_ids = queued(client, "beta")
    beta_before = {i: client.dump(keys.execution_key(i)) for i in beta_ids}
    beta_running = client.hgetall(keys.execution_key(f"beta:{NOW - 600}"))

    rev_before = entry(client, "alpha")["rev"]
    change = control.set_enabled(app, "alpha", False)

    assert change.removed == 13 and change.created == 0
    assert queued(client, "alpha") == []
    assert client.keys(keys.EXECUTION_PREFIX + "alpha:*") == [keys.execution_key(done)]
    assert client.zrange(keys.EXECUTION_HISTORY, 0, -1) == [done]
    assert client.hget(keys.execution_key(done), "status") == "success"
    assert queued(client, "beta") == beta_ids
    assert {i: client.dump(keys.execution_key(i)) for i in beta_ids} == beta_before
    assert client.hgetall(keys.execution_key(f"beta:{NOW - 600}")) == beta_running
    alpha = entry(client, "alpha")
    assert alpha["override"] == {"enabled": False} and alpha["overridden"] is True
    assert alpha["schedule"]["enabled"] is False
    assert alpha["default"]["enabled"] is True
    assert alpha["rev"] > rev_before

    # a restart: a new process registers the same code; the operator's choice survives
    restarted = open_app(Settings.with_defaults(redis_url=redis_url, timezone="UTC"), clock=clock)
    report = control.register(restarted, found, d)
    assert report.overrides == ["alpha"]
    assert report.unchanged == ["alpha", "beta"]
    assert entry(client, "alpha")["schedule"]["enabled"] is False
    assert entry(client, "alpha")["override"] == {"enabled": False}
    assert queued(client, "alpha") == []

    # disabling twice is harmless
    assert control.set_enabled(restarted, "alpha", False).removed == 0

    reset = control.reset(restarted, "alpha")
    assert reset.helper.override is None and reset.helper.enabled is True
    assert entry(client, "alpha")["override"] is None
    assert entry(client, "alpha")["overridden"] is False
    assert entry(client, "alpha")["schedule"] == TEN_MIN_SCHEDULE
    # re-planned; the finished occurrence is never planned a second time
    assert reset.created == 13
    assert queued(client, "alpha") == ids_of("alpha", TICKER_TIMES[1:])
    assert client.hget(keys.execution_key(done), "status") == "success"


def test_enable_after_a_code_disabled_default(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "dormant", {**EVERY_10_MIN, "enabled": False})
    register(app, d)
    assert queued(client) == []

    change = control.set_enabled(app, "dormant", True)
    assert change.helper.override == {"enabled": True}
    assert change.created == 14
    assert queued(client) == ids_of("dormant", TICKER_TIMES)

    # enabling what the default already enables stores no override
    back = control.set_enabled(app, "dormant", False)
    assert back.helper.override is None and back.removed == 14
    assert queued(client) == []


# --------------------------------------------------------------------------------------------
# update


def test_update_patch_and_replace_replan_the_queue(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    register(app, d)

    patched = control.update(app, "ticker", {"priority": 1}, replace=False)

    assert patched.removed == 14 and patched.created == 14
    assert patched.helper.schedule.to_dict() == {**TEN_MIN_SCHEDULE, "priority": 1}
    stored = entry(client, "ticker")
    assert stored["schedule"]["priority"] == 1
    assert stored["default"] == TEN_MIN_SCHEDULE  # the code default is untouched
    assert stored["overridden"] is True and stored["override"]["priority"] == 1
    assert queued(client) == ids_of("ticker", TICKER_TIMES)
    for t in TICKER_TIMES:
        assert client.zscore(keys.EXECUTION_QUEUE, f"ticker:{t}") == t * 10 + 1

    replaced = control.update(app, "ticker", {"type": "cron", "cron": "*/15 * * * *"}, replace=True)

    assert replaced.helper.schedule.to_dict() == {
        "type": "cron",
        "cron": "*/15 * * * *",
        "priority": 3,
        "enabled": True,
        "timezone": "UTC",
    }
    quarter = [NOW - 900 + 900 * k for k in range(10)]  # expiry 900 covers NOW-900; ... NOW+7200
    assert queued(client) == ids_of("ticker", quarter)
    assert replaced.created == 10
    for t in TICKER_TIMES:
        if t not in quarter:  # the old schedule's executions are gone, hash and all
            assert not client.exists(keys.execution_key(f"ticker:{t}"))
    # each new execution has its hash from the moment it is planned, saying what queue show says
    shown = queue.show(client, limit=50, helper="ticker")
    assert [(e.execution_time, e.priority, e.expiry, e.status) for e in shown] == [
        (t, 3, 900, "queued") for t in quarter
    ]
    for t in quarter:
        assert client.hgetall(keys.execution_key(f"ticker:{t}")) == {
            "executionId": f"ticker:{t}",
            "helper": "ticker",
            "executionTime": str(t),
            "executionExpiry": "900",
            "priority": "3",
            "status": "queued",
            "createdAt": str(NOW),
        }

    # a patch that changes the type drops the old type's keys
    daily = control.update(app, "ticker", {"type": "daily", "time": "11:00"}, replace=False)
    assert daily.helper.schedule.to_dict() == {
        "type": "daily",
        "time": "11:00:00",
        "priority": 3,
        "enabled": True,
        "timezone": "UTC",
    }
    assert queued(client) == [f"ticker:{NOW + 3600}"]


@pytest.mark.parametrize(
    ("changes", "replace", "error"),
    [
        ({"priority": 9}, False, InvalidSchedule),
        ({"priority": 1.5}, False, InvalidSchedule),
        ({"bogus": 1}, False, InvalidSchedule),
        ({"enabled": "no"}, False, InvalidSchedule),
        ({"cron": "*/5 * * * *"}, False, InvalidSchedule),  # a cron key on an interval schedule
        ({"type": "daily"}, False, InvalidSchedule),  # daily needs a time
        ({"timezone": "Mars/Olympus"}, False, InvalidSchedule),
        ({"interval_minutes": 0}, False, InvalidSchedule),
        ({"cron": "*/15 * * * *"}, True, InvalidSchedule),  # a whole schedule needs a type
        ({"type": "cron", "cron": "61 * * * *"}, True, InvalidSchedule),
        ({"type": "weekly"}, True, InvalidSchedule),
        ({}, False, InvalidInput),
        ({}, True, InvalidInput),
    ],
)
def test_invalid_updates_raise_and_leave_redis_byte_identical(app, client, tmp_path, changes, replace, error):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    register(app, d)
    before, ttls = snapshot(client), ttl_presence(client)

    with pytest.raises(error):
        control.update(app, "ticker", changes, replace=replace)

    assert snapshot(client) == before
    assert ttl_presence(client) == ttls


def test_actions_on_an_unknown_helper_raise_and_change_nothing(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    register(app, d)
    before = snapshot(client)
    with pytest.raises(UnknownHelper):
        control.update(app, "nope", {"priority": 1}, replace=False)
    with pytest.raises(UnknownHelper):
        control.set_enabled(app, "nope", False)
    with pytest.raises(UnknownHelper):
        control.reset(app, "nope")
    with pytest.raises(InvalidInput):
        control.set_enabled(app, "bad name!", False)
    assert snapshot(client) == before


# --------------------------------------------------------------------------------------------
# Re-registering changed, deleted and broken files


def test_changed_code_default_on_reregister(app, client, tmp_path):
    d = tmp_path / "helpers"
    for name in ("plain", "patched", "replaced"):
        add_helper(d, name, {"type": "daily", "time": "08:30"})
    register(app, d)
    assert queued(client) == []  # 08:30 is outside the window
    control.set_enabled(app, "patched", False)
    control.update(app, "replaced", {"type": "daily", "time": "10:30"}, replace=True)
    assert queued(client) == [f"replaced:{NOW + 1800}"]
    replaced_hash = client.dump(keys.execution_key(f"replaced:{NOW + 1800}"))

    for name in ("plain", "patched", "replaced"):
        add_helper(d, name, {"type": "daily", "time": "11:00"})
    report = register(app, d)

    assert report.updated == ["patched", "plain", "replaced"]
    assert report.overrides == ["patched", "replaced"]
    for name in ("plain", "patched", "replaced"):
        assert entry(client, name)["default"]["time"] == "11:00:00"
    # no override: the new default is in force and the queue follows it
    assert entry(client, "plain")["schedule"]["time"] == "11:00:00"
    assert entry(client, "plain")["override"] is None
    assert queued(client, "plain") == [f"plain:{NOW + 3600}"]
    # a patch override is kept and laid over the new default
    patched = entry(client, "patched")
    assert patched["override"] == {"enabled": False}
    assert patched["schedule"]["time"] == "11:00:00" and patched["schedule"]["enabled"] is False
    assert queued(client, "patched") == []
    # a full override is kept and stays in force; its queued execution is untouched
    replaced = entry(client, "replaced")
    assert replaced["schedule"]["time"] == "10:30:00"
    assert replaced["override"]["time"] == "10:30:00"
    assert queued(client, "replaced") == [f"replaced:{NOW + 1800}"]
    assert client.dump(keys.execution_key(f"replaced:{NOW + 1800}")) == replaced_hash

    # a second change of the default re-plans again: the old occurrence goes, hash and all
    add_helper(d, "plain", {"type": "daily", "time": "11:30"})
    register(app, d)
    assert queued(client, "plain") == [f"plain:{NOW + 5400}"]
    assert not client.exists(keys.execution_key(f"plain:{NOW + 3600}"))

    control.reset(app, "patched")
    assert queued(client, "patched") == [f"patched:{NOW + 3600}"]


def test_deleted_file_becomes_missing_and_syntax_error_marks_broken(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "keep", EVERY_10_MIN)
    gone = add_helper(d, "gone", EVERY_10_MIN)
    fragile_body = helper_source("frag1", EVERY_10_MIN, "F1") + "\n\n" + helper_source("frag2", EVERY_10_MIN, "F2")
    fragile = write_helper(d, "fragile.py", fragile_body)
    register(app, d)
    assert {i.rpartition(":")[0] for i in queued(client)} == {"keep", "gone", "frag1", "frag2"}
    keep_before = {i: client.dump(keys.execution_key(i)) for i in queued(client, "keep")}
    gone_entry = entry(client, "gone")

    gone.unlink()
    fragile.write_text(fragile_body + "\ndef broken(:\n")
    report = register(app, d)

    assert report.missing == ["gone"]
    assert sorted(name for name, _ in report.broken) == ["frag1", "frag2"]
    assert [os.path.basename(e.source) for e in report.load_errors] == ["fragile.py"]
    missing = entry(client, "gone")
    assert missing["status"] == "missing"
    assert missing["problem"]
    assert missing["default"] == gone_entry["default"] and missing["source"] == gone_entry["source"]
    assert queued(client, "gone") == []
    assert client.keys(keys.EXECUTION_PREFIX + "gone:*") == []
    for name in ("frag1", "frag2"):
        broken = entry(client, name)  # still in the catalog, with what was known about it
        assert broken["status"] == "broken"
        assert "fragile.py" in broken["problem"] and "SyntaxError" in broken["problem"]
        assert broken["default"] == TEN_MIN_SCHEDULE
        assert broken["schedule"] == TEN_MIN_SCHEDULE
        assert broken["source"] == os.path.abspath(fragile)
        assert queued(client, name) == []
    assert {i: client.dump(keys.execution_key(i)) for i in queued(client, "keep")} == keep_before

    # the same broken state again does not churn revisions
    revs = {n: entry(client, n)["rev"] for n in ("gone", "frag1", "frag2")}
    register(app, d)
    assert {n: entry(client, n)["rev"] for n in revs} == revs

    # an override cannot revive a missing helper
    assert control.set_enabled(app, "gone", True).created == 0
    assert entry(client, "gone")["status"] == "missing"

    # fixing the file brings them back, re-planned
    fragile.write_text(fragile_body)
    register(app, d)
    for name in ("frag1", "frag2"):
        assert entry(client, name)["status"] == "ok"
        assert queued(client, name) == ids_of(name, TICKER_TIMES)


# --------------------------------------------------------------------------------------------
# Concurrent operators


def test_concurrent_enable_disable_keeps_the_catalog_consistent(app, client, redis_url, clock, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "flappy", EVERY_10_MIN)
    add_helper(d, "bystander", EVERY_10_MIN)
    register(app, d)
    rev0 = entry(client, "flappy")["rev"]
    bystander = entry(client, "bystander")
    threads_n, ops = 4, 50
    barrier = threading.Barrier(threads_n)
    lock = threading.Lock()
    done = {"ok": 0, "conflict": 0}
    errors: list[BaseException] = []

    def operator(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            mine = open_app(Settings.with_defaults(redis_url=redis_url, timezone="UTC"), clock=clock)
            barrier.wait(timeout=10)
            for _ in range(ops):
                try:
                    control.set_enabled(mine, "flappy", rnd.random() < 0.5)
                    outcome = "ok"
                except ConcurrentChange:
                    outcome = "conflict"
                with lock:
                    done[outcome] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    start_and_join([threading.Thread(target=operator, args=(i,)) for i in range(threads_n)], 60)

    assert errors == []
    assert done["ok"] + done["conflict"] == threads_n * ops
    final = entry(client, "flappy")  # valid JSON
    assert set(json.loads(client.hget(keys.AVAILABLE_HELPERS, "flappy"))) <= ENTRY_KEYS | {"override", "default"}
    assert final["rev"] == rev0 + done["ok"]  # every applied change bumped the revision once
    assert final["status"] == "ok"
    enabled = final["schedule"]["enabled"]
    assert final["override"] == (None if enabled else {"enabled": False})
    assert entry(client, "bystander") == bystander

    plan_catalog(app)
    if enabled:
        assert queued(client, "flappy") == ids_of("flappy", TICKER_TIMES)
    else:
        assert queued(client, "flappy") == []
        assert client.keys(keys.EXECUTION_PREFIX + "flappy:*") == []
    assert queued(client, "bystander") == ids_of("bystander", TICKER_TIMES)


# --------------------------------------------------------------------------------------------
# status


def test_status_summary_shape_and_counts(app, client, clock, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    add_helper(d, "off", {**EVERY_10_MIN, "enabled": False})
    add_helper(d, "bad", {"type": "interval"})
    register(app, d)

    summary = status.summary(client, clock.time())

    assert {"system_status", "available_helpers", "total_queued_executions", "dispatcher", "timestamp"} <= set(summary)
    assert set(summary["dispatcher"]) >= {"registered_helpers", "running_executions", "dispatcher_running"}
    assert summary["system_status"] == "stopped"
    assert summary["available_helpers"] == 3
    assert summary["total_queued_executions"] == 14
    assert summary["dispatcher"] == {"registered_helpers": 3, "running_executions": 0, "dispatcher_running": False}
    assert summary["timestamp"] == "2026-11-30T10:00:00+00:00"
    assert summary["enabled_helpers"] == 1 and summary["broken_helpers"] == 1
    assert summary["next_execution_time"] == "2026-11-30T09:50:00+00:00"
    json.dumps(summary)  # JSON-able as is

    claim(app.scripts)
    client.zadd(keys.DISPATCHERS, {"d1": NOW + 30})
    client.hset(
        keys.dispatcher_key("d1"),
        mapping={
            "host": "box",
            "pid": "42",
            "startedAt": str(NOW - 60),
            "beat": str(NOW),
            "running": "1",
            "concurrency": "10",
        },
    )
    summary = status.summary(client, NOW + 1)
    assert summary["system_status"] == "running"
    assert summary["dispatcher"] == {"registered_helpers": 3, "running_executions": 1, "dispatcher_running": True}
    assert summary["total_queued_executions"] == 13
    assert [x["id"] for x in summary["dispatchers"]] == ["d1"]
    # a lapsed heartbeat is not a live dispatcher
    assert status.summary(client, NOW + 31)["dispatcher"]["dispatcher_running"] is False


# --------------------------------------------------------------------------------------------
# history


def seed_history(scripts: Scripts) -> dict[str, str]:
    """Finished executions: returns {label: execution id}; finish times are NOW+10 ... NOW+210."""
    expiry = {"a": 86400, "b": 86400, "c": 10}  # planned executions take their helper's expiry
    schedules = {
        n: parse_schedule({**TEN_MIN_SCHEDULE, "expiry": e}, default_timezone="UTC") for n, e in expiry.items()
    }
    records = [
        HelperRecord(
            name=n,
            rev=1,
            status="ok",
            problem=None,
            schedule=schedules[n],
            default=schedules[n],
            override=None,
            source=None,
            class_name=None,
        )
        for n in ("a", "b", "c")
    ]
    assert catalog.put_many(scripts, [(None, r) for r in records]) == []
    groups = [
        PlanGroup(
            helper="a", rev="1", occurrences=[(NOW - 3600, 86400, 3), (NOW - 2400, 86400, 3), (NOW - 1200, 86400, 3)]
        ),
        PlanGroup(helper="b", rev="1", occurrences=[(NOW - 3600, 86400, 3), (NOW - 2400, 86400, 3)]),
        PlanGroup(helper="c", rev="1", occurrences=[(NOW - 5000, 10, 3)]),
    ]
    assert scripts.plan(str(NOW - 6000), groups) == (6, 0, 0)
    first = {c.helper: c for c in claim(scripts, now=NOW + 10, prefix="r1").claimed}  # c expires at NOW+10
    finish(scripts, first["a"].execution_id, first["a"].token, now=NOW + 20)
    finish(scripts, first["b"].execution_id, first["b"].token, now=NOW + 30, status="error", error="boom")
    second = {c.helper: c for c in claim(scripts, now=NOW + 100, prefix="r2").claimed}
    finish(scripts, second["a"].execution_id, second["a"].token, now=NOW + 110, status="error", error="bang")
    finish(scripts, second["b"].execution_id, second["b"].token, now=NOW + 120)
    third = {c.helper: c for c in claim(scripts, now=NOW + 200, prefix="r3").claimed}
    finish(scripts, third["a"].execution_id, third["a"].token, now=NOW + 210)
    return {
        "c": f"c:{NOW - 5000}",
        "a1": f"a:{NOW - 3600}",
        "b1": f"b:{NOW - 3600}",
        "a2": f"a:{NOW - 2400}",
        "b2": f"b:{NOW - 2400}",
        "a3": f"a:{NOW - 1200}",
    }


def test_history_query_filters(app, client):
    x = seed_history(app.scripts)
    now = NOW + 300

    def q(**kw) -> list[str]:
        return [e.execution_id for e in history.query(client, **kw)]

    assert q() == [x["a3"], x["b2"], x["a2"], x["b1"], x["a1"], x["c"]]  # newest first
    assert q(helper="a") == [x["a3"], x["a2"], x["a1"]]
    assert q(status="error") == [x["a2"], x["b1"]]
    assert q(status="expired") == [x["c"]]
    assert q(helper="b", status="success") == [x["b2"]]
    assert q(finished_after=now - 90) == [x["a3"]]  # finished at or after NOW+210
    assert q(finished_after=now - 200) == [x["a3"], x["b2"], x["a2"]]  # at or after NOW+100
    assert q(limit=2) == [x["a3"], x["b2"]]
    assert q(helper="a", limit=1) == [x["a3"]]
    assert q(helper="nobody") == []
    [b1] = history.query(client, helper="b", status="error")
    assert (b1.status, b1.error, b1.finished_at, b1.started_at) == ("error", "boom", NOW + 30, NOW + 10)
    [c] = history.query(client, status="expired")
    assert c.reason == "expired" and c.finished_at == NOW + 10


def test_history_prune_drops_old_entries_with_their_hashes(app, client):
    x = seed_history(app.scripts)
    queued_before = client.zrange(keys.EXECUTION_QUEUE, 0, -1)

    removed = history.prune(app.scripts, now=NOW + 215, history_ttl=100)  # cutoff NOW+115

    assert removed == 4
    assert client.zrange(keys.EXECUTION_HISTORY, 0, -1) == [x["b2"], x["a3"]]
    for label in ("c", "a1", "b1", "a2"):
        assert not client.exists(keys.execution_key(x[label]))
    for label in ("b2", "a3"):
        assert client.hget(keys.execution_key(x[label]), "status") == "success"
    assert client.zrange(keys.EXECUTION_QUEUE, 0, -1) == queued_before
    assert history.prune(app.scripts, now=NOW + 215, history_ttl=100) == 0


def test_history_prune_works_through_many_batches(app, client):
    pipe = client.pipeline(transaction=False)
    for i in range(1200):
        execution_id = f"bulk:{NOW - 100000 + i}"
        pipe.hset(
            keys.execution_key(execution_id),
            mapping={"executionId": execution_id, "helper": "bulk", "status": "success"},
        )
        pipe.zadd(keys.EXECUTION_HISTORY, {execution_id: NOW - 100000 + i})
    pipe.zadd(keys.EXECUTION_HISTORY, {"recent:1": NOW - 10})
    pipe.hset(keys.execution_key("recent:1"), "status", "success")
    pipe.execute()

    assert history.prune(app.scripts, now=NOW, history_ttl=86400) == 1200
    assert client.zrange(keys.EXECUTION_HISTORY, 0, -1) == ["recent:1"]
    assert client.keys(keys.EXECUTION_PREFIX + "bulk:*") == []
    assert client.exists(keys.execution_key("recent:1"))


# An operator's full override stands in for an invalid code schedule, and survives re-registration
# (every dispatcher start or rescan) until `helpers reset`.
def test_a_full_override_of_an_invalid_code_schedule_survives_a_restart(app, client, redis_url, clock, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "odd", {"type": "weekly", "time": "08:00"})
    report = register(app, d)
    assert [name for name, _ in report.broken] == ["odd"]
    assert entry(client, "odd")["default"] is None

    fixed = control.update(app, "odd", {"type": "interval", "interval_minutes": 10}, replace=True)
    assert fixed.helper.status == "ok"
    assert queued(client, "odd") == ids_of("odd", TICKER_TIMES)

    restarted = open_app(Settings.with_defaults(redis_url=redis_url, timezone="UTC"), clock=clock)
    control.register(restarted, discovery.discover_in_process(d, default_timezone="UTC"), d)

    assert entry(client, "odd")["override"]["interval_seconds"] == 600
    assert entry(client, "odd")["status"] == "ok"
    assert queued(client, "odd") == ids_of("odd", TICKER_TIMES)
