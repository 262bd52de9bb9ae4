"""The dispatch-side Lua transitions against a real Redis: claim, expiry, finish fencing, renew,
reap, release, bad data, the expire sweep, and many claimers racing for the same queue."""

from __future__ import annotations

import json
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest
import redis

from queuectl.domain import keys
from queuectl.domain.models import HelperRecord, format_time
from queuectl.domain.schedule import ScheduleConfig, parse_schedule
from queuectl.store import catalog
from queuectl.store.planner import keep_seconds
from queuectl.store.scripts import ClaimRequest, ClaimResult, Outcome, PlanGroup, Scripts
from support import NOW, gather, start_and_join

KEEP = keep_seconds(86400)
LEASE = 30
SCHEDULE = {"type": "interval", "interval_seconds": 600, "priority": 3, "enabled": True, "timezone": "UTC"}


@pytest.fixture()
def scripts(client: redis.Redis) -> Scripts:
    return Scripts(client)


def put_helpers(scripts: Scripts, names, *, rev: int = 1, expiry: dict[str, int] | None = None) -> None:
    """Catalog entries that plan.lua accepts: status ok, schedule enabled, the given revision
    and expiry (600 s unless `expiry` names another; claim.lua reads it for planned executions)."""

    def schedule(n: str) -> ScheduleConfig:
        return parse_schedule({**SCHEDULE, "expiry": (expiry or {}).get(n, 600)}, default_timezone="UTC")

    records = [
        HelperRecord(
            name=n,
            rev=rev,
            status="ok",
            problem=None,
            schedule=schedule(n),
            default=schedule(n),
            override=None,
            source=None,
            class_name=None,
        )
        for n in names
    ]
    assert catalog.put_many(scripts, [(None, r) for r in records]) == []


def seed(
    scripts: Scripts, executions: dict[str, list[tuple[int, int, int]]], *, now: int = NOW, write_hashes: bool = True
) -> None:
    """Queue executions through plan.lua: {helper: [(executionTime, expiry, priority), ...]}; a
    helper's executions share its catalog expiry. `write_hashes=False`: the compact layout."""
    expiry = {}
    for helper, occ in executions.items():
        [expiry[helper]] = {e for _t, e, _p in occ}
    fresh = [h for h in executions if not scripts.client.hexists(keys.AVAILABLE_HELPERS, h)]
    put_helpers(scripts, fresh, expiry=expiry)
    groups = [PlanGroup(helper=h, rev="1", occurrences=list(occ)) for h, occ in executions.items()]
    created, existing, stale = scripts.plan(str(now), groups, write_hashes=write_hashes)
    assert (created, existing, stale) == (sum(len(o) for o in executions.values()), 0, 0)


def claim(
    scripts: Scripts,
    *,
    now: float = NOW,
    limit: int = 10,
    owner: str = "d1",
    token_prefix: str = "t1",
    lease: float = LEASE,
    scan: int = 1000,
    skip=(),
) -> ClaimResult:
    return scripts.claim(
        ClaimRequest(
            now=format_time(now),
            limit=limit,
            owner=owner,
            lease_until=format_time(now + lease),
            token_prefix=token_prefix,
            scan=scan,
            keep=KEEP,
            skip=skip,
        )
    )


def finish(
    scripts: Scripts,
    execution_id: str,
    token: str,
    *,
    now: float = NOW + 5,
    status: str = "success",
    error: str | None = None,
    reason: str | None = None,
) -> int:
    [result] = scripts.finish(
        now=format_time(now),
        keep=KEEP,
        outcomes=[Outcome(execution_id=execution_id, token=token, status=status, error=error, reason=reason)],
    )
    return result


def h(client: redis.Redis, execution_id: str) -> dict[str, str]:
    return client.hgetall(keys.execution_key(execution_id))


def status(client: redis.Redis, execution_id: str) -> str | None:
    """An execution's status as queuectl sees it: a planned one is its queue entry alone."""
    value = client.hget(keys.execution_key(execution_id), "status")
    if value is None and client.zscore(keys.EXECUTION_QUEUE, execution_id) is not None:
        return "queued"
    return value


def queue(client: redis.Redis) -> list[str]:
    return client.zrange(keys.EXECUTION_QUEUE, 0, -1)


def history(client: redis.Redis) -> list[str]:
    return client.zrange(keys.EXECUTION_HISTORY, 0, -1)


def running(client: redis.Redis) -> dict[str, float]:
    return dict(client.zrange(keys.RUNNING, 0, -1, withscores=True))


# --------------------------------------------------------------------------------------------
# Claim


def test_claim_takes_due_executions_and_marks_them_running(client, scripts):
    seed(scripts, {"a": [(NOW - 60, 600, 3)], "b": [(NOW, 600, 2)], "later": [(NOW + 1, 600, 1)]})

    result = claim(scripts, owner="disp-1", token_prefix="disp-1:7")

    assert [c.execution_id for c in result.claimed] == [f"b:{NOW}", f"a:{NOW - 60}"]  # priority 2 first
    assert result.expired == 0 and result.anomalies == [] and result.looked == 2
    assert result.head_score == (NOW + 1) * 10 + 1  # the future one is left, and is the head
    first = result.claimed[0]
    assert (first.helper, first.execution_time, first.attempt, first.priority, first.expiry) == ("b", NOW, 1, 2, 600)
    assert {c.token for c in result.claimed} == {"disp-1:7:1", "disp-1:7:2"}
    for c in result.claimed:
        data = h(client, c.execution_id)
        assert data["status"] == "running"
        assert data["startedAt"] == str(NOW)
        assert data["dispatcher"] == "disp-1"
        assert data["token"] == c.token
        assert data["leaseUntil"] == str(NOW + LEASE)
    assert queue(client) == [f"later:{NOW + 1}"]
    assert running(client) == {f"b:{NOW}": NOW + LEASE, f"a:{NOW - 60}": NOW + LEASE}
    assert client.hgetall(keys.RUNNING_HELPERS) == {"a": f"a:{NOW - 60}", "b": f"b:{NOW}"}


def test_claim_respects_the_limit_and_takes_the_highest_priority_first(client, scripts):
    seed(
        scripts,
        {
            "early-p5": [(NOW - 300, 3600, 5)],  # earliest in time, lowest priority
            "p1": [(NOW, 3600, 1)],
            "p3-old": [(NOW - 200, 3600, 3)],
            "p3-new": [(NOW - 100, 3600, 3)],
        },
    )

    one = claim(scripts, limit=1, token_prefix="x1")
    assert [c.execution_id for c in one.claimed] == [f"p1:{NOW}"]
    two = claim(scripts, limit=2, token_prefix="x2")
    assert [c.execution_id for c in two.claimed] == [f"p3-old:{NOW - 200}", f"p3-new:{NOW - 100}"]
    assert queue(client) == [f"early-p5:{NOW - 300}"]
    zero = claim(scripts, limit=0, token_prefix="x3")
    assert zero.claimed == [] and queue(client) == [f"early-p5:{NOW - 300}"]
    last = claim(scripts, limit=5, token_prefix="x4")
    assert [c.execution_id for c in last.claimed] == [f"early-p5:{NOW - 300}"]
    assert queue(client) == []


def test_future_executions_are_not_claimed(client, scripts):
    seed(scripts, {"soon": [(NOW + 1, 600, 1)]})
    assert claim(scripts, now=NOW + 0.999).claimed == []
    assert [c.execution_id for c in claim(scripts, now=NOW + 1).claimed] == [f"soon:{NOW + 1}"]


def test_no_overlap_one_execution_of_a_helper_at_a_time(client, scripts):
    seed(scripts, {"solo": [(NOW - 600, 3600, 3), (NOW, 3600, 3)], "other": [(NOW, 3600, 3)]})

    first = claim(scripts, limit=10, token_prefix="c1")
    assert sorted(c.execution_id for c in first.claimed) == [f"other:{NOW}", f"solo:{NOW - 600}"]
    assert queue(client) == [f"solo:{NOW}"]

    blocked = claim(scripts, now=NOW + 10, limit=10, token_prefix="c2")
    assert blocked.claimed == []
    assert queue(client) == [f"solo:{NOW}"]
    assert status(client, f"solo:{NOW}") == "queued"

    token = next(c.token for c in first.claimed if c.helper == "solo")
    assert finish(scripts, f"solo:{NOW - 600}", token, now=NOW + 20) == 1
    assert client.hget(keys.RUNNING_HELPERS, "solo") is None

    after = claim(scripts, now=NOW + 30, limit=10, token_prefix="c3")
    assert [c.execution_id for c in after.claimed] == [f"solo:{NOW}"]
    assert client.hget(keys.RUNNING_HELPERS, "solo") == f"solo:{NOW}"


def test_a_stale_running_marker_does_not_block_the_helper_forever(client, scripts):
    seed(scripts, {"solo": [(NOW, 600, 3)]})
    client.hset(keys.RUNNING_HELPERS, "solo", "solo:123")  # names an execution that is not running
    result = claim(scripts)
    assert [c.execution_id for c in result.claimed] == [f"solo:{NOW}"]
    assert client.hget(keys.RUNNING_HELPERS, "solo") == f"solo:{NOW}"


def test_skipped_helpers_are_left_queued_for_other_dispatchers(client, scripts):
    seed(scripts, {"mine": [(NOW, 600, 3)], "theirs": [(NOW, 600, 1)]})
    result = claim(scripts, skip=["theirs"])
    assert [c.execution_id for c in result.claimed] == [f"mine:{NOW}"]
    assert queue(client) == [f"theirs:{NOW}"]
    assert status(client, f"theirs:{NOW}") == "queued"


# --------------------------------------------------------------------------------------------
# Expiry at claim time


def test_past_deadline_executions_expire_instead_of_being_claimed(client, scripts):
    seed(
        scripts,
        {
            "stale": [(NOW - 601, 600, 1)],  # deadline NOW-1
            "edge": [(NOW - 600, 600, 3)],  # deadline == NOW: still claimable
        },
    )

    result = claim(scripts, token_prefix="e1")

    assert [c.execution_id for c in result.claimed] == [f"edge:{NOW - 600}"]
    assert result.expired == 1
    data = h(client, f"stale:{NOW - 601}")
    assert data["status"] == "expired"
    assert data["finishedAt"] == str(NOW)
    assert data["reason"] == "expired"
    assert "startedAt" not in data and "token" not in data
    assert history(client) == [f"stale:{NOW - 601}"]
    assert client.zscore(keys.EXECUTION_HISTORY, f"stale:{NOW - 601}") == NOW
    assert queue(client) == []
    assert f"stale:{NOW - 601}" not in running(client)
    assert 0 < client.ttl(keys.execution_key(f"stale:{NOW - 601}")) <= KEEP


def test_expiry_edge_with_fractional_now(client, scripts):
    seed(scripts, {"x": [(NOW, 10, 3)], "y": [(NOW, 10, 3)]})
    ok = claim(scripts, now=NOW + 10, limit=1, skip=["y"])  # now == deadline
    assert [c.execution_id for c in ok.claimed] == [f"x:{NOW}"]
    late = claim(scripts, now=NOW + 10.001, limit=1)  # just past the deadline
    assert late.claimed == [] and late.expired == 1
    assert h(client, f"y:{NOW}")["status"] == "expired"
    assert h(client, f"y:{NOW}")["finishedAt"] == format_time(NOW + 10.001)


# --------------------------------------------------------------------------------------------
# Finish, renew, reap, release


def test_finish_is_fenced_by_the_claim_token(client, scripts):
    seed(scripts, {"ok": [(NOW, 600, 3)], "bad": [(NOW, 600, 3)]})
    tokens = {c.execution_id: c.token for c in claim(scripts, token_prefix="f").claimed}
    ok_id, bad_id = f"ok:{NOW}", f"bad:{NOW}"

    before = h(client, ok_id)
    assert finish(scripts, ok_id, "f:999") == 0  # wrong token: nothing changes
    assert h(client, ok_id) == before
    assert ok_id in running(client) and history(client) == []
    assert client.hget(keys.RUNNING_HELPERS, "ok") == ok_id

    assert finish(scripts, ok_id, tokens[ok_id], now=NOW + 7) == 1
    data = h(client, ok_id)
    assert data["status"] == "success" and data["finishedAt"] == str(NOW + 7)
    assert "token" not in data and "leaseUntil" not in data
    assert data["error"] == "" and float(data["duration"]) == 7.0  # empty on success
    assert data["startedAt"] == str(NOW) and data["dispatcher"] == "d1" and data["attempt"] == "1"

    assert finish(scripts, bad_id, tokens[bad_id], now=NOW + 8, status="error", error="ValueError: boom") == 1
    data = h(client, bad_id)
    assert data["status"] == "error" and data["error"] == "ValueError: boom"

    assert history(client) == [ok_id, bad_id]
    assert client.zscore(keys.EXECUTION_HISTORY, bad_id) == NOW + 8
    assert running(client) == {}
    assert client.hgetall(keys.RUNNING_HELPERS) == {}

    # finishing again (a duplicate report) is refused and changes nothing
    snapshot = h(client, ok_id)
    assert finish(scripts, ok_id, tokens[ok_id], now=NOW + 50, status="error", error="late") == 0
    assert h(client, ok_id) == snapshot
    assert client.zscore(keys.EXECUTION_HISTORY, ok_id) == NOW + 7
    # an id without a hash was never claimed (fenced); a hash of another type is unreadable
    assert finish(scripts, "ghost:1", "f:1") == 0
    client.set(keys.execution_key("str:1"), "x")
    assert finish(scripts, "str:1", "f:1") == -1


def test_finish_of_a_queued_execution_is_refused(client, scripts):
    seed(scripts, {"q": [(NOW, 600, 3)]})
    assert finish(scripts, f"q:{NOW}", "") == 0
    assert status(client, f"q:{NOW}") == "queued"
    assert queue(client) == [f"q:{NOW}"]


def test_renew_extends_the_lease_only_for_the_token_holder(client, scripts):
    seed(scripts, {"r": [(NOW, 600, 3)]})
    [c] = claim(scripts, token_prefix="rn").claimed

    lost = scripts.renew(lease_until=format_time(NOW + 90), owned=[(c.execution_id, c.token)])
    assert lost == []
    assert h(client, c.execution_id)["leaseUntil"] == str(NOW + 90)
    assert running(client)[c.execution_id] == NOW + 90

    lost = scripts.renew(lease_until=format_time(NOW + 500), owned=[(c.execution_id, "rn:2"), ("ghost:1", "x")])
    assert lost == [c.execution_id, "ghost:1"]
    assert h(client, c.execution_id)["leaseUntil"] == str(NOW + 90)
    assert running(client)[c.execution_id] == NOW + 90

    assert finish(scripts, c.execution_id, c.token) == 1
    assert scripts.renew(lease_until=format_time(NOW + 900), owned=[(c.execution_id, c.token)]) == [c.execution_id]


def test_reap_finalises_lapsed_leases_and_leaves_live_ones(client, scripts):
    seed(scripts, {"dead": [(NOW, 600, 3)], "alive": [(NOW, 600, 3)]})
    claimed = {c.helper: c for c in claim(scripts, token_prefix="rp").claimed}
    assert (
        scripts.renew(
            lease_until=format_time(NOW + 120), owned=[(claimed["alive"].execution_id, claimed["alive"].token)]
        )
        == []
    )
    alive_before = h(client, claimed["alive"].execution_id)

    assert scripts.reap(now=format_time(NOW + LEASE), keep=KEEP) == ([], 0, [])  # lease == now: not lapsed
    reaped, dropped, requeued = scripts.reap(now=format_time(NOW + LEASE + 1), keep=KEEP)
    assert requeued == []

    dead_id = claimed["dead"].execution_id
    assert reaped == [dead_id] and dropped == 0
    data = h(client, dead_id)
    assert data["status"] == "error"
    assert data["reason"] == "abandoned"
    assert data["error"].startswith("abandoned")
    assert data["finishedAt"] == str(NOW + LEASE + 1)
    assert "token" not in data and "leaseUntil" not in data
    assert history(client) == [dead_id]
    assert dead_id not in running(client)
    assert client.hget(keys.RUNNING_HELPERS, "dead") is None
    # the live one is untouched
    alive_id = claimed["alive"].execution_id
    assert h(client, alive_id) == alive_before
    assert running(client) == {alive_id: NOW + 120}
    assert client.hget(keys.RUNNING_HELPERS, "alive") == alive_id
    # the late owner of the reaped execution can no longer finish it
    assert finish(scripts, dead_id, claimed["dead"].token, now=NOW + 40) == 0
    assert h(client, dead_id)["status"] == "error"


def test_reap_drops_index_entries_of_executions_that_are_not_running(client, scripts):
    client.zadd(keys.RUNNING, {"ghost:1": NOW - 10})
    assert scripts.reap(now=format_time(NOW), keep=KEEP) == ([], 1, [])
    assert running(client) == {}


@pytest.mark.parametrize("write_hashes", [True, False], ids=["documented", "compact"])
def test_release_puts_a_claimed_execution_back_with_its_original_score(client, scripts, write_hashes):
    seed(scripts, {"rel": [(NOW - 30, 600, 2)]}, write_hashes=write_hashes)
    execution_id = f"rel:{NOW - 30}"
    score = client.zscore(keys.EXECUTION_QUEUE, execution_id)
    queued_hash = h(client, execution_id)
    [c] = claim(scripts, token_prefix="rl").claimed

    assert scripts.release(execution_id, "rl:99") is False  # not ours
    assert h(client, execution_id)["status"] == "running"

    assert scripts.release(execution_id, c.token) is True
    assert client.zscore(keys.EXECUTION_QUEUE, execution_id) == score == (NOW - 30) * 10 + 2
    # a released execution keeps its metadata, queued, with no claim fields: what it had when
    # it was planned (the compact layout planned no hash) and its attempt
    metadata = {
        "status": "queued",
        "helper": "rel",
        "executionTime": str(NOW - 30),
        "executionExpiry": "600",
        "priority": "2",
    }
    if write_hashes:
        assert queued_hash == {**metadata, "executionId": execution_id, "createdAt": str(NOW)}
    else:
        assert queued_hash == {}
    assert h(client, execution_id) == {**queued_hash, **metadata, "executionId": execution_id, "attempt": "1"}
    assert running(client) == {}
    assert client.hget(keys.RUNNING_HELPERS, "rel") is None
    assert scripts.release(execution_id, c.token) is False  # twice: no longer running

    again = claim(scripts, now=NOW + 1, owner="d2", token_prefix="d2")
    assert [x.execution_id for x in again.claimed] == [execution_id]
    assert h(client, execution_id)["dispatcher"] == "d2"


# --------------------------------------------------------------------------------------------
# Bad data


def test_claim_quarantines_bad_queue_members_and_still_claims_good_ones(client, scripts):
    seed(scripts, {"good": [(NOW, 600, 3)], "good2": [(NOW - 5, 600, 4)]})
    t = NOW - 100
    client.zadd(keys.EXECUTION_QUEUE, {f"ghost:{t}": t * 10 + 3})  # no hash, no catalog entry
    client.hset(
        keys.execution_key(f"badtime:{t}"),
        mapping={
            "executionId": f"badtime:{t}",
            "helper": "badtime",
            "executionTime": "soon",
            "executionExpiry": "600",
            "priority": "3",
            "status": "queued",
            "attempt": "1",
        },
    )
    client.zadd(keys.EXECUTION_QUEUE, {f"badtime:{t}": t * 10 + 3})
    client.set(keys.execution_key(f"strkey:{t}"), "not a hash")  # wrong type
    client.zadd(keys.EXECUTION_QUEUE, {f"strkey:{t}": t * 10 + 3})
    client.hset(
        keys.execution_key(f"done:{t}"),
        mapping={
            "executionId": f"done:{t}",
            "helper": "done",
            "executionTime": str(t),
            "executionExpiry": "600",
            "priority": "3",
            "status": "success",
            "attempt": "1",
        },
    )
    client.zadd(keys.EXECUTION_QUEUE, {f"done:{t}": t * 10 + 3})

    result = claim(scripts, token_prefix="bd")

    assert sorted(c.execution_id for c in result.claimed) == [f"good2:{NOW - 5}", f"good:{NOW}"]
    assert sorted(result.anomalies) == sorted(
        [
            (f"ghost:{t}", "nohelper"),
            (f"badtime:{t}", "badfields"),
            (f"strkey:{t}", "wrongtype"),
            (f"done:{t}", "status:success"),
        ]
    )
    assert queue(client) == []
    assert client.get(keys.execution_key(f"strkey:{t}")) == "not a hash"  # left for a human to look at
    assert h(client, f"done:{t}")["status"] == "success"
    assert running(client).keys() == {f"good:{NOW}", f"good2:{NOW - 5}"}
    ghost = h(client, f"ghost:{t}")  # ended as an error, visible in history
    assert (ghost["status"], ghost["reason"], ghost["helper"]) == ("error", "quarantined", "ghost")
    assert client.zscore(keys.EXECUTION_HISTORY, f"ghost:{t}") is not None


# A hash with non-integer numbers is quarantined before any write, so the good executions of
# the same call are claimed and returned, never left running under tokens nobody learned.
def test_claim_with_a_fractional_execution_time_does_not_lose_the_batch(client, scripts):
    seed(scripts, {"good": [(NOW, 600, 3)]})
    t = NOW - 100
    client.hset(
        keys.execution_key(f"frac:{t}"),
        mapping={
            "executionId": f"frac:{t}",
            "helper": "frac",
            "executionTime": f"{t}.5",
            "executionExpiry": "600",
            "priority": "3",
            "status": "queued",
            "attempt": "1",
        },
    )
    client.zadd(keys.EXECUTION_QUEUE, {f"frac:{t}": t * 10 + 3})

    result = claim(scripts, token_prefix="fr")  # must not raise

    reported = {c.execution_id for c in result.claimed} | {i for i, _ in result.anomalies}
    assert f"good:{NOW}" in {c.execution_id for c in result.claimed}
    # every execution the script marked running is known to the caller, with its token
    for execution_id in running(client):
        assert execution_id in reported
        assert h(client, execution_id)["token"] in {c.token for c in result.claimed}


# --------------------------------------------------------------------------------------------
# The expire sweep


def test_expire_sweep_reaches_past_deadline_items_deep_in_the_queue(client, scripts):
    # 20 long-lived executions ahead in the queue, then short-lived ones that are past their deadline
    seed(
        scripts,
        {
            "long": [(NOW - 3000 + 10 * i, 86400, 3) for i in range(20)],
            "short": [(NOW - 100 + i, 10, 3) for i in range(7)],
            "fresh": [(NOW - 50, 3600, 3)],  # still valid
            "later": [(NOW + 60, 10, 3)],  # not due yet
        },
    )
    short_ids = [f"short:{NOW - 100 + i}" for i in range(7)]

    # claim only looks at its first `scan` members, so it never reaches them
    peek = claim(scripts, limit=0, scan=5)
    assert peek.expired == 0 and peek.looked == 5

    offset, total, looked_total, calls = 0, 0, 0, 0
    while True:
        expired, looked, kept, anomalies = scripts.expire(now=format_time(NOW), keep=KEEP, offset=offset, limit=5)
        calls += 1
        assert anomalies == []
        total += expired
        looked_total += looked
        if looked == 0:
            break
        offset += kept
        assert calls < 20

    assert total == 7
    assert looked_total == 20 + 7 + 1  # every due member once; the future one is never looked at
    for execution_id in short_ids:
        data = h(client, execution_id)
        assert data["status"] == "expired" and data["reason"] == "expired" and data["finishedAt"] == str(NOW)
    assert set(history(client)) == set(short_ids)
    assert len(queue(client)) == 20 + 2
    assert not any(i.startswith("short:") for i in queue(client))
    assert all(status(client, i) == "queued" for i in queue(client))


def test_expire_sweep_reports_bad_members(client, scripts):
    client.zadd(keys.EXECUTION_QUEUE, {f"ghost:{NOW}": NOW * 10 + 3})
    client.set(keys.execution_key(f"str:{NOW}"), "x")
    client.zadd(keys.EXECUTION_QUEUE, {f"str:{NOW}": NOW * 10 + 3})
    expired, looked, kept, anomalies = scripts.expire(now=format_time(NOW), keep=KEEP, offset=0, limit=10)
    assert (expired, looked, kept) == (0, 2, 0)
    assert sorted(anomalies) == [(f"ghost:{NOW}", "nohelper"), (f"str:{NOW}", "wrongtype")]
    assert queue(client) == []


# --------------------------------------------------------------------------------------------
# Many claimers


N_EXECUTIONS = 1000
N_PROCESSES = 3
N_THREADS = 4


def _claimer_process(url: str, proc: int, threads: int, parties: int) -> list[tuple[str, str, str]]:
    """Child process: own client and Scripts; `threads` threads claim 5 at a time until the queue is empty.

    Returns (execution_id, owner, token) for every claim this process made.
    """
    client = redis.Redis.from_url(url, decode_responses=True)
    scripts = Scripts(client)
    gather(client, parties, 30, "claimers")
    out: list[tuple[str, str, str]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop(thread: int) -> None:
        owner = f"p{proc}t{thread}"
        calls = 0
        try:
            while True:
                calls += 1
                result = scripts.claim(
                    ClaimRequest(
                        now=str(NOW),
                        limit=5,
                        owner=owner,
                        lease_until=str(NOW + LEASE),
                        token_prefix=f"{owner}:{calls}",
                        scan=1000,
                        keep=KEEP,
                    )
                )
                with lock:
                    out.extend((c.execution_id, owner, c.token) for c in result.claimed)
                if not result.claimed and client.zcard(keys.EXECUTION_QUEUE) == 0:
                    return
                if calls > 10 * N_EXECUTIONS:
                    raise RuntimeError("claim loop did not end")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    start_and_join([threading.Thread(target=loop, args=(i,)) for i in range(threads)], 60)
    client.close()
    if errors:
        raise errors[0]
    return out


def test_many_processes_and_threads_claim_every_execution_exactly_once(client, scripts, redis_url):
    names = [f"h{i}" for i in range(N_EXECUTIONS)]
    put_helpers(scripts, names)
    groups = [PlanGroup(helper=n, rev="1", occurrences=[(NOW, 600, 1 + i % 5)]) for i, n in enumerate(names)]
    assert scripts.plan(str(NOW), groups) == (N_EXECUTIONS, 0, 0)
    assert client.zcard(keys.EXECUTION_QUEUE) == N_EXECUTIONS

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=N_PROCESSES, mp_context=ctx) as pool:
        futures = [pool.submit(_claimer_process, redis_url, p, N_THREADS, N_PROCESSES) for p in range(N_PROCESSES)]
        rows = [row for f in futures for row in f.result(timeout=120)]

    ids = [execution_id for execution_id, _, _ in rows]
    assert len(ids) == len(set(ids)), "an execution was claimed twice"
    assert len(ids) == N_EXECUTIONS
    assert set(ids) == {f"{n}:{NOW}" for n in names}
    assert client.zcard(keys.EXECUTION_QUEUE) == 0
    assert client.zcard(keys.RUNNING) == N_EXECUTIONS
    assert client.hlen(keys.RUNNING_HELPERS) == N_EXECUTIONS
    tokens = [token for _, _, token in rows]
    assert len(set(tokens)) == len(tokens)
    pipe = client.pipeline(transaction=False)
    for execution_id, _, _ in rows:
        pipe.hmget(keys.execution_key(execution_id), "status", "dispatcher", "token")
    for (execution_id, owner, token), stored in zip(rows, pipe.execute()):
        assert stored == ["running", owner, token], execution_id


@pytest.mark.parametrize("cached", ["finish", "claim", None])
def test_finish_and_claim_after_a_script_cache_flush_runs_each_script_once(scripts, client, cached) -> None:
    """finish_and_claim pipelines bare EVALSHAs: after SCRIPT FLUSH (or a restart) the script that
    got NOSCRIPT runs again on its own, and the one that did run is not run a second time."""
    seed(scripts, {"fa": [(NOW - 5, 60, 3)], "fb": [(NOW - 5, 60, 3)], "fc": [(NOW - 5, 60, 3)]})
    [done] = claim(scripts, limit=1).claimed
    client.script_flush()
    if cached:
        client.script_load(scripts._scripts[cached].script)
    request = ClaimRequest(
        now=format_time(NOW),
        limit=1,
        owner="d1",
        lease_until=format_time(NOW + 30),
        token_prefix="t2",
        scan=10,
        keep=KEEP,
    )
    outcome = Outcome(execution_id=done.execution_id, token=done.token, status="success")
    written, result = scripts.finish_and_claim(now=format_time(NOW + 1), keep=KEEP, outcomes=[outcome], claim=request)
    assert written == [1]
    assert len(result.claimed) == 1
    assert h(client, done.execution_id)["status"] == "success"
    assert len(queue(client)) == 1, "a claim ran twice"


@pytest.mark.parametrize("write_hashes", [True, False], ids=["documented", "compact"])
def test_queue_show_reads_planned_and_released_executions_alike(client, scripts, write_hashes):
    """A planned execution has its hash (in the compact layout none: helper and time from the
    id, priority from the score, expiry from the catalog); a released one is read from its hash.
    Both show as queued."""
    from queuectl.store import queue as queue_reads

    seed(scripts, {"rel": [(NOW - 30, 900, 2)], "plan": [(NOW + 60, 120, 4)]}, write_hashes=write_hashes)
    [c] = claim(scripts, token_prefix="qs").claimed
    assert scripts.release(c.execution_id, c.token) is True
    shown = queue_reads.show(client, limit=10)
    assert [(e.execution_id, e.helper, e.execution_time, e.priority, e.expiry, e.status) for e in shown] == [
        (f"rel:{NOW - 30}", "rel", NOW - 30, 2, 900, "queued"),
        (f"plan:{NOW + 60}", "plan", NOW + 60, 4, 120, "queued"),
    ]
    assert client.exists(keys.execution_key(f"rel:{NOW - 30}"))
    assert client.exists(keys.execution_key(f"plan:{NOW + 60}")) == write_hashes
    assert [e.execution_id for e in queue_reads.show(client, limit=10, helper="plan")] == [f"plan:{NOW + 60}"]
    # the one-round-trip read of the queue's head (queue_head.lua) shows the same
    assert queue_reads.show(client, limit=10, scripts=scripts) == shown
    assert queue_reads.show(client, limit=1, scripts=scripts) == shown[:1]


def test_the_queue_head_read_skips_a_key_that_is_not_a_hash(client, scripts):
    from queuectl.store import queue as queue_reads

    seed(scripts, {"ok": [(NOW + 60, 120, 3)], "bad": [(NOW + 30, 120, 3)]})
    client.delete(keys.execution_key(f"bad:{NOW + 30}"))
    client.set(keys.execution_key(f"bad:{NOW + 30}"), "not a hash")
    shown = queue_reads.show(client, limit=10, scripts=scripts)
    assert [e.execution_id for e in shown] == [f"ok:{NOW + 60}"]
    assert shown == queue_reads.show(client, limit=10)


def test_a_planned_execution_takes_the_expiry_in_force_from_its_catalog_entry(client, scripts):
    """In the compact layout claim.lua reads the entry's `expiry` field; an entry without one
    (written before it existed) gives its schedule's `expiry` field."""
    seed(
        scripts,
        {"fresh": [(NOW - 100, 90, 3)], "old": [(NOW - 100, 600, 3)], "live": [(NOW - 100, 600, 3)]},
        write_hashes=False,
    )
    raw = client.hget(keys.AVAILABLE_HELPERS, "fresh")
    assert json.loads(raw)["expiry"] == 90
    # written before the entry carried `expiry`: the schedule's own is used
    client.hset(
        keys.AVAILABLE_HELPERS,
        "old",
        '{"rev":1,"status":"ok","schedule":{"type":"interval",'
        '"interval_seconds":600,"expiry":50,"enabled":true},"source":null}',
    )
    result = claim(scripts, limit=10)
    assert [c.execution_id for c in result.claimed] == [f"live:{NOW - 100}"]
    assert result.expired == 2
    assert h(client, f"fresh:{NOW - 100}")["executionExpiry"] == "90"
    assert h(client, f"old:{NOW - 100}")["executionExpiry"] == "50"
