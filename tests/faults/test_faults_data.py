"""Misbehaving helpers (F25) and bad data in Redis (F30), reliability.md §5 D and F."""

from __future__ import annotations

import time

import pytest

from harness import DUE_NOW, alive, every, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

QUEUE = "internalExecutionQueue"

# name -> (schedule, kind, seconds, expected reason, texts expected in the stored error)
BAD_HELPERS = {
    "raiser": (DUE_NOW, "raise", 0, None, ("RuntimeError", "boom from raiser")),
    "hanger": ({**DUE_NOW, "timeout": 1}, "hang", 0, "timeout", ("timeout",)),
    "exiter": (DUE_NOW, "exit", 0, None, ("SystemExit", "3")),
    "crasher": (DUE_NOW, "os_exit", 0, "crashed", ("code 7",)),
    "segv": (DUE_NOW, "segfault", 0, "crashed", ("SIGSEGV",)),
    "leaker": (DUE_NOW, "leak", 0, "memory", ("MemoryError",)),
    "forker": ({**DUE_NOW, "timeout": 1}, "fork", 3600, "timeout", ("timeout",)),
}


def test_f25_misbehaving_helpers_fail_alone_and_leave_no_process(fx):
    fx.helpers(
        "f25.py",
        *[(name, schedule, kind, secs) for name, (schedule, kind, secs, _, _) in BAD_HELPERS.items()],
        ("steady", every(1), "ok"),
    )
    d = fx.dispatcher("--memory-limit", "200", concurrency=8)

    def finished():
        rows = {}
        for entry in fx.starts():
            if entry.helper in BAD_HELPERS:
                row = fx.execution(entry.execution_id)
                if row.get("status") not in ("success", "error", "expired"):
                    return None
                rows[entry.helper] = row
        return rows if len(rows) == len(BAD_HELPERS) else None

    rows = wait_until(finished, 12, 0.1)
    assert rows, ({e.helper for e in fx.starts()}, d.describe())
    all_done = time.time()
    problems = []
    for name, (_, _, _, reason, texts) in BAD_HELPERS.items():
        row = rows[name]
        if (
            row["status"] != "error"
            or (row.get("reason") or None) != reason
            or not all(t in row.get("error", "") for t in texts)
        ):
            problems.append(f"{name}: status={row['status']} reason={row.get('reason')!r} error={row.get('error')!r}")
    assert not problems, "\n".join(problems)

    # no helper process is left behind: a helper that raised or called sys.exit leaves its worker
    # alive as an idle member of the pool (a child of the dispatcher); every other process that
    # ran a bad helper, and the forker's SIGTERM-proof grandchild, is gone
    pids = {e.pid: e.execution_id for e in fx.log() if e.kind in ("start", "child") and e.helper in BAD_HELPERS}
    assert [e for e in fx.log() if e.kind == "child"], "the forker's grandchild logs its pid"

    def strays():
        pool = set(d.worker_pids())
        return {p: i for p, i in pids.items() if alive(p) and p not in pool}

    wait_until(lambda: not strays(), 2)
    assert not strays(), f"processes left behind: {strays()}"

    # no re-run, and the dispatcher goes on with later executions
    time.sleep(1.2)
    for name in BAD_HELPERS:
        assert len(fx.starts(name)) == 1, (name, fx.starts(name))
    assert wait_until(lambda: fx.starts("steady", after=all_done + 0.5), 3), d.describe()
    assert d.alive()
    fx.stop_all()
    assert wait_until(lambda: not [p for p in pids if alive(p)], 2), [p for p in pids if alive(p)]
    figures = fx.check()
    print("errors by reason:", figures["error_reasons"])


def _plant_bad_data(client, now: int) -> dict[str, str]:
    """Corrupt entries in the queue; returns {id: what is wrong}."""
    bad = {}
    # a planned execution (no hash) of a helper the catalog does not know
    ghost = f"nobody:{now - 7}"
    client.zadd(QUEUE, {ghost: (now - 7) * 10 + 3})
    bad[ghost] = "nohelper"
    # no hash, and an id that is not `<helper>:<seconds>`
    badid = f"steady-{now - 6}"
    client.zadd(QUEUE, {badid: (now - 6) * 10 + 3})
    bad[badid] = "badid"
    # no hash, and a score that is not its id's second * 10 + priority
    badscore = f"steady:{now - 5}"
    client.zadd(QUEUE, {badscore: (now - 4) * 10 + 3})
    bad[badscore] = "badscore"
    # a hash with a non-numeric executionTime
    nonnum = f"steady:{now - 8}"
    client.hset(
        "execution:" + nonnum,
        mapping={
            "executionId": nonnum,
            "helper": "steady",
            "executionTime": "soon",
            "executionExpiry": "60",
            "priority": "3",
            "status": "queued",
            "attempt": "1",
        },
    )
    client.zadd(QUEUE, {nonnum: (now - 8) * 10 + 3})
    bad[nonnum] = "badfields"
    # a STRING where an execution hash should be
    string = f"steady:{now - 9}"
    client.set("execution:" + string, "not a hash")
    client.zadd(QUEUE, {string: (now - 9) * 10 + 3})
    bad[string] = "wrongtype"
    return bad


def _valid_queued(client, helper: str, t: int, expiry: int) -> str:
    eid = f"{helper}:{t}"
    client.hset(
        "execution:" + eid,
        mapping={
            "executionId": eid,
            "helper": helper,
            "executionTime": str(t),
            "executionExpiry": str(expiry),
            "priority": "3",
            "status": "queued",
            "createdAt": str(t),
            "attempt": "1",
        },
    )
    return eid


def _assert_quarantined(fx, eid: str, error: str) -> dict[str, str]:
    """Finalised as `error` with reason `quarantined` (visible in history), out of the queue."""
    row = fx.execution(eid)
    assert fx.client.zscore(QUEUE, eid) is None, f"{eid} still queued: {row}"
    assert (row.get("status"), row.get("reason")) == ("error", "quarantined"), row
    assert row.get("error") == error, row
    assert fx.client.zscore("internalExecutionHistory", eid) is not None, f"{eid} not in history"
    assert "token" not in row and "leaseUntil" not in row, row
    return row


def test_f30_bad_queue_entries_are_quarantined_and_good_work_goes_on(fx):
    fx.helpers("f30.py", ("steady", every(1), "ok"), ("other", every(2), "ok"))
    d = fx.dispatcher()
    assert wait_until(lambda: fx.starts("steady"), 5), d.describe()
    now = int(time.time())
    bad = _plant_bad_data(fx.client, now)
    # a well-formed execution whose queue score is +inf (json turns 1e999 into inf; Redis accepts it)
    inf_id = _valid_queued(fx.client, "other", now - 11, 2)
    fx.client.zadd(QUEUE, {inf_id: float("inf")})
    planted = time.time()

    for eid, why in bad.items():
        assert wait_until(lambda eid=eid: fx.client.zscore(QUEUE, eid) is None, 3), f"{eid} ({why}) still queued"
        assert d.wait_for(f"removed unusable queue entry {eid!r} ({why})", 2), d.describe()
    # +inf never falls due: the expiry sweep (every tick) takes it out and records it as an error
    assert wait_until(lambda: fx.client.zscore(QUEUE, inf_id) is None, 2), f"{inf_id} still queued"
    assert d.wait_for(f"removed unusable queue entry {inf_id!r} (score:+inf)", 2), d.describe()
    _assert_quarantined(fx, inf_id, "quarantined: its queue score was +inf")
    # a hash with unusable fields is recorded the same way, and so is a planned execution of an
    # unknown helper; a malformed planned entry or a key that is not a hash: only dropped
    nonnum = next(eid for eid, why in bad.items() if why == "badfields")
    _assert_quarantined(fx, nonnum, "quarantined: unusable execution fields")
    ghost = next(eid for eid, why in bad.items() if why == "nohelper")
    _assert_quarantined(fx, ghost, "quarantined: its helper has no schedule in the catalog")
    string = next(eid for eid, why in bad.items() if why == "wrongtype")
    for why in ("badid", "badscore"):
        assert not fx.client.exists("execution:" + next(eid for eid, w in bad.items() if w == why))
    assert fx.client.type("execution:" + string) == "string"  # left alone (not ours to delete)
    assert wait_until(lambda: fx.starts("steady", after=planted + 0.5), 3), "good executions keep running"
    text = d.text
    assert d.alive() and "Traceback" not in text and "unexpected error" not in text, text
    for eid in [*bad, inf_id]:
        assert text.count(f"removed unusable queue entry {eid!r}") == 1, text
    assert all(e.execution_id != inf_id for e in fx.starts("other")), "the quarantined execution never ran"
    fx.stop_all()
    # the +inf one is a valid execution: judged like any other (error, in history); the hash with
    # a non-numeric executionTime cannot pass I1/I3 by construction
    fx.check(ignore=set(bad), now=time.time())


def test_f30_minus_inf_score_at_the_head_does_not_stop_the_dispatcher(fx):
    fx.helpers("f30b.py", ("steady", every(1), "ok"), ("busy", DUE_NOW, "sleep", 30))
    d = fx.dispatcher()
    assert wait_until(lambda: fx.starts("busy") and fx.starts("steady"), 5), d.describe()
    # a queued execution of a helper that is running now (so it cannot be claimed), scored -inf
    now = int(time.time())
    stuck = _valid_queued(fx.client, "busy", now - 5, 3600)
    fx.client.zadd(QUEUE, {stuck: float("-inf")})
    planted = time.time()
    # -inf would head the queue forever: the expiry sweep takes it out and records it as an error
    assert wait_until(lambda: fx.client.zscore(QUEUE, stuck) is None, 2), f"{stuck} still queued"
    assert d.wait_for(f"removed unusable queue entry {stuck!r} (score:-inf)", 2), d.describe()
    _assert_quarantined(fx, stuck, "quarantined: its queue score was -inf")
    time.sleep(max(0.0, planted + 3 - time.time()))
    assert d.alive()
    ran = fx.starts("steady", after=planted + 0.5)
    rows = [fx.execution(f"steady:{t}") for t in range(int(planted) + 1, int(planted) + 3)]
    print("steady after planting:", [(r.get("status"), r.get("reason")) for r in rows])
    assert len(ran) >= 2, f"steady did not run after the -inf entry was planted: {rows}\n{d.describe()}"
    assert [r.get("status") for r in rows] == ["success", "success"], rows
    assert len(fx.starts("busy")) == 1, "the quarantined execution never ran"
    text = d.text
    assert "Traceback" not in text and "unexpected error" not in text and "abandoned" not in text, text
    fx.stop_all()
    fx.check()
    # one entry, one ERROR line
    lines = [line for line in text.splitlines() if f"removed unusable queue entry {stuck!r}" in line]
    assert len(lines) == 1, "\n".join(lines)
