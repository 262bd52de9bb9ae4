"""Crashes and concurrency: F01, F02/F04, F06, F09 (reliability.md §5 A)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from conftest import LEASE
from harness import DUE_NOW, alive, every, thread_ids, voluntary_switches, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]


def test_f01_kill9_sole_dispatcher_helper_dies_and_is_abandoned_not_rerun(fx):
    fx.helpers("f01.py", ("victim", DUE_NOW, "fork", 3600), ("tick", every(1), "ok"))
    first = fx.dispatcher()
    child = wait_until(lambda: [e for e in fx.log() if e.kind == "child"], 10)
    assert child, first.describe()
    start = fx.starts("victim")[0]
    helper_pid, grandchild_pid = start.pid, child[0].pid
    assert alive(helper_pid) and alive(grandchild_pid)

    first.kill9()
    killed_at = time.time()
    gone = wait_until(lambda: not alive(helper_pid) and not alive(grandchild_pid), 1.0, 0.02)
    took = time.time() - killed_at
    assert gone, (
        f"helper {helper_pid} alive={alive(helper_pid)}, grandchild {grandchild_pid} "
        f"alive={alive(grandchild_pid)} {took:.2f}s after kill -9"
    )

    second = fx.dispatcher()
    row = wait_until(lambda: (r := fx.execution(start.execution_id)).get("status") == "error" and r, LEASE + 6)
    assert row, (fx.execution(start.execution_id), second.describe())
    assert row["reason"] == "abandoned", row
    delay = float(row["finishedAt"]) - killed_at
    assert delay <= LEASE + 2, f"abandoned {delay:.2f}s after the kill (lease {LEASE}s)"
    time.sleep(1.5)  # the restarted dispatcher keeps going; the victim is not re-run
    assert second.alive()
    assert len(fx.starts("victim")) == 1
    assert fx.starts("tick", after=killed_at + 1), "the restarted dispatcher runs later executions"
    fx.stop_all()
    figures = fx.check()
    # the victim, and only what the killed dispatcher held (a `tick` it had just claimed, started
    # or not yet), end abandoned
    assert start.execution_id in figures["abandoned_ids"], figures
    for eid in figures["abandoned_ids"]:
        row = fx.execution(eid)
        assert row.get("dispatcher") == first.dispatcher_id and float(row.get("startedAt", "inf")) < killed_at, row
    print(f"helper and grandchild gone {took:.2f}s after kill -9; abandoned {delay:.2f}s after it")


def _daily(at: int, **extra):
    return {
        "type": "daily",
        "time": datetime.fromtimestamp(at, tz=UTC).strftime("%H:%M:%S"),
        "timezone": "UTC",
        "expiry": 60,
        **extra,
    }


def test_f02_f04_three_dispatchers_race_then_one_is_killed(fx):
    # 200 executions due at the same instant, after all three dispatchers are ready
    due = int(time.time()) + 8
    fx.helpers("race.py", *[(f"r{i:03d}", _daily(due), "sleep", 0.3) for i in range(200)])
    ds = [fx.dispatcher(concurrency=4, window=60) for _ in range(3)]
    assert time.time() < due - 0.5, "dispatchers took too long to start"
    ids = {d.dispatcher_id: d for d in ds}
    victim = ds[0]

    # kill -9 one of them while it has executions running
    def victim_running():
        running = fx.client.zrange("internalExecutionRunning", 0, -1)
        mine = [eid for eid in running if fx.execution(eid).get("dispatcher") == victim.dispatcher_id]
        return mine if len(fx.starts()) > 40 else None

    mine = wait_until(victim_running, 20, 0.02)
    assert mine, "the victim never had running executions"
    victim.kill9()
    killed_at = time.time()

    def all_final():
        rows = [fx.execution(f"r{i:03d}:{due}") for i in range(200)]
        return all(r.get("status") in ("success", "error", "expired") for r in rows) and rows

    rows = wait_until(all_final, 30, 0.2)
    assert rows, Counter(fx.execution(f"r{i:03d}:{due}").get("status") for i in range(200))
    fx.stop_all()

    starts = Counter(e.execution_id for e in fx.starts())
    assert max(starts.values()) == 1, {k: v for k, v in starts.items() if v > 1}
    abandoned = [r for r in rows if r.get("reason") == "abandoned"]
    assert abandoned, "the victim's running executions must end abandoned"
    for r in abandoned:
        assert r["dispatcher"] == victim.dispatcher_id, r
        delay = float(r["finishedAt"]) - killed_at
        assert delay <= LEASE + 2, f"{r['executionId']} reaped {delay:.2f}s after the kill"
    per = Counter(r.get("dispatcher") for r in rows)
    assert all(per[i] > 0 for i in ids), per
    figures = fx.check(now=time.time())
    assert figures["executions"] == 200, figures
    assert figures["status"].get("success", 0) + len(abandoned) == 200, figures
    print(
        f"per dispatcher {dict(per)}; {len(abandoned)} abandoned, reaped within "
        f"{max(float(r['finishedAt']) - killed_at for r in abandoned):.2f}s of the kill"
    )


def _lease_lines(eid: str) -> tuple[str, ...]:
    """What a dispatcher that lost an execution to the reaper logs about it (it writes no outcome)."""
    return (
        f"lease of {eid} could not be renewed in time; its helper was stopped and its outcome is left to the reaper",
        f"lease lost for {eid}",
        f"outcome of {eid} not recorded: it is no longer ours",
    )


def test_f06_frozen_dispatcher_helper_stopped_before_the_peer_reaps_and_no_late_outcome(fx):
    fx.helpers("f06.py", ("slow", DUE_NOW, "beat"), ("tick", every(1), "ok"))
    frozen = fx.dispatcher()
    start = wait_until(lambda: fx.starts("slow"), 10)
    assert start, frozen.describe()
    eid, pid = start[0].execution_id, start[0].pid
    peer = fx.dispatcher()
    assert fx.execution(eid)["status"] == "running"

    frozen.stop()
    stopped_at = time.time()
    time.sleep(0.05)  # a renewal that was on the wire when it stopped has landed by now
    lease_until = float(fx.execution(eid)["leaseUntil"])
    # its worker sees the dispatcher frozen and kills the helper before the lease can lapse
    died = wait_until(lambda: not alive(pid) and time.time(), LEASE + 2, 0.01)
    assert died, f"helper {pid} still alive {time.time() - stopped_at:.2f}s after its dispatcher froze"
    beats = fx.beats(pid)
    print(
        f"frozen at {stopped_at:.3f}, lease until {lease_until:.3f}: helper died {died - stopped_at:.3f}s after "
        f"the freeze ({died - lease_until:+.3f}s vs its lease), last beat {max(beats) - lease_until:+.3f}s"
    )
    # a freeze shorter than one renewal period (lease/3) never costs the helper
    assert died - stopped_at >= LEASE / 3 - 0.02, f"helper killed {died - stopped_at:.3f}s after the freeze"
    assert died <= lease_until + 0.03 and max(beats) < lease_until, (
        f"helper alive {died - lease_until:+.3f}s after its lease ran out"
    )

    # the peer reaps it once the lease has lapsed: the helper is already dead by then
    row = wait_until(lambda: (r := fx.execution(eid)).get("status") == "error" and r, LEASE + 4)
    assert row and row["reason"] == "abandoned", (fx.execution(eid), peer.describe())
    assert row["dispatcher"] == frozen.dispatcher_id, row
    finished = float(row["finishedAt"])
    assert lease_until <= finished <= lease_until + 1.0, f"reaped {finished - lease_until:+.2f}s after the lease"
    assert died <= finished and max(beats) < finished
    before = {eid: (row["status"], row["finishedAt"])}

    time.sleep(max(0.0, stopped_at + 3 * LEASE - time.time()))
    # the peer has done its part (the reap); stopped, it leaves every `tick` to the thawed
    # dispatcher, whose going on working then does not hang on winning claim races against it
    peer.term()
    peer.wait(15)
    mark = frozen.mark()
    frozen.cont()
    # thawed, it writes no outcome for it and says so, once; then it goes on working
    lines = _lease_lines(eid)
    assert wait_until(lambda: any(t in frozen.since(mark) for t in lines), 5), frozen.describe()
    assert frozen.wait_for("[DISPATCHER] started", 6, mark), (
        "the frozen dispatcher must keep working\n" + frozen.describe()
    )
    assert frozen.alive()
    text = frozen.since(mark)
    assert sum(text.count(t) for t in lines) == 1, text
    assert f"{eid} succeeded" not in text, text
    after = fx.execution(eid)
    assert (after["status"], after["reason"], after["finishedAt"]) == ("error", "abandoned", row["finishedAt"])
    assert len(fx.starts("slow")) == 1
    fx.stop_all()
    fx.check(before=before)


def _watchdog_thread(pid: int) -> tuple[int, float] | None:
    """The worker's parent-watch thread and how often it looks: the thread (not the main one,
    which runs the helper) that goes to sleep at a steady pace (median gap between its sleeps)."""
    others = [t for t in thread_ids(pid) if t != pid]
    wakes: dict[int, list[float]] = {t: [] for t in others}
    last = {t: voluntary_switches(pid, t) for t in others}
    until = time.monotonic() + 1.0
    while time.monotonic() < until:
        for t in others:
            count = voluntary_switches(pid, t)
            if count != last[t]:
                last[t] = count
                wakes[t].append(time.monotonic())
        time.sleep(0.0005)
    best = None
    for t, times in wakes.items():
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        if len(gaps) < 2:
            continue
        period = gaps[len(gaps) // 2]
        steady = sum(1 for g in gaps if abs(g - period) <= 0.25 * period + 0.003) / len(gaps)
        if 0.01 <= period <= 0.4 and steady >= 0.6 and (best is None or steady > best[2]):
            best = (t, period, steady)
    return (best[0], best[1]) if best else None


def test_f06b_frozen_just_before_a_renewal_the_helper_still_dies_before_its_lease_lapses(fx):
    """Worst case for the worker's watchdog: the dispatcher freezes just before it renews (2/3
    lease left in Redis) and just after the watchdog looked (it sees the freeze one period late).
    The moment is found from the outside: renewals from leaseUntil, the watchdog's looks from its
    thread's context switches (/proc)."""
    lease = 2.0
    fx.helpers("f06b.py", ("idem", {**DUE_NOW, "retry_on_abandon": 1}, "beat"))
    frozen = fx.dispatcher(lease=lease)
    start = wait_until(lambda: fx.starts("idem"), 10)
    assert start, frozen.describe()
    eid, pid = start[0].execution_id, start[0].pid
    fx.dispatcher(lease=lease)  # the peer that will reap the frozen one's execution
    found = _watchdog_thread(pid)
    assert found, f"no watchdog thread with a steady period in worker {pid}: {thread_ids(pid)}"
    tid, period = found

    # the moment: the next renewal is 20-35 ms away and the watchdog looked within the last
    # quarter of its period
    key = "execution:" + eid
    renewals: list[float] = []  # leaseUntil - lease = when the dispatcher renewed (its clock)
    seen, looked, switches = None, None, voluntary_switches(pid, tid)
    stopped_at = lease_until = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and stopped_at is None:
        now = time.time()
        count = voluntary_switches(pid, tid)
        if count != switches:
            switches, looked = count, now
        value = fx.client.hget(key, "leaseUntil")
        if value != seen:
            seen = value
            renewals.append(float(value) - lease)
        if len(renewals) >= 3 and looked is not None:
            due = renewals[-1] + (renewals[-1] - renewals[-2])
            if 0.02 <= due - now <= 0.035 and now - looked <= period / 4:
                frozen.stop()
                at = time.time()
                time.sleep(0.05)
                if fx.client.hget(key, "leaseUntil") == seen:
                    stopped_at, lease_until = at, float(seen)
                else:  # it renewed after all: thaw at once (harmless) and wait for the next one
                    frozen.cont()
        time.sleep(0.0005)
    assert stopped_at is not None and lease_until is not None, f"no suitable moment; renewals {renewals}"

    died = wait_until(lambda: not alive(pid) and time.time(), lease + 2, 0.005)
    beats = fx.beats(pid)
    rerun = wait_until(lambda: [e for e in fx.starts("idem") if e.pid != pid], lease + 3, 0.01)
    frozen.cont()
    print(
        f"watchdog looks every {period:.3f}s; frozen {lease_until - stopped_at:.3f}s before its lease ran out "
        f"(watchdog looked {stopped_at - looked:.3f}s before): helper died {died and died - lease_until:+.3f}s after "
        f"the lease ran out, last beat {max(beats) - lease_until:+.3f}s; peer re-ran it "
        f"{rerun and rerun[0].at - lease_until:+.3f}s after it"
    )
    assert died, f"helper {pid} never stopped"
    assert died <= lease_until + 0.02 and max(beats) < lease_until, (
        f"helper alive {died - lease_until:+.3f}s after its lease ran out (beat {max(beats) - lease_until:+.3f}s)"
    )
    assert rerun and rerun[0].at >= died, "re-run while the first run was alive"
    fx.stop_all()
    fx.check(retries_ok=True)


def test_f09_sigterm_with_running_helper_exits_0_and_records_shutdown(fx):
    fx.helpers("f09.py", ("long", DUE_NOW, "hang"), ("tick", every(1), "ok"))
    d = fx.dispatcher("--grace", "1")
    start = wait_until(lambda: fx.starts("long"), 10)
    assert start, d.describe()
    mark = d.mark()
    d.term()
    termed = time.monotonic()
    code = d.wait(1 + 5)
    took = time.monotonic() - termed
    assert code == 0, d.describe()
    assert took <= 1 + 5
    row = fx.execution(start[0].execution_id)
    assert (row["status"], row["reason"]) == ("error", "shutdown"), row
    assert "[DISPATCHER] started" not in d.since(mark).split("stopping: no new claims")[-1]
    assert not alive(start[0].pid)
    fx.check()
    print(f"exit 0 {took:.2f}s after SIGTERM (grace 1 s)")
