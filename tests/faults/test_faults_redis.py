"""Redis faults: F10, F11, F12, F14, F15, F16, F17, F19 (reliability.md §5 B)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest
import redis

from conftest import LEASE
from harness import DUE_NOW, FailoverWatch, RedisServer, Sentinels, alive, every, stall_redis, used_memory, wait_until
from queuectl.infra.process import cpu_seconds

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

EVERY_1S = [("t1", every(1), "ok"), ("t2", every(1), "sleep", 0.2), ("t3", every(2), "sleep", 0.4)]


def _catalog(fx) -> set[str]:
    return set(fx.client.hkeys("internalAvailableHelpers"))


def test_f10_data_reset_is_detected_catalog_reseeded_window_rebuilt(fx):
    fx.helpers("f10.py", *EVERY_1S)
    d = fx.dispatcher()
    assert wait_until(lambda: len(fx.starts()) >= 3, 5), d.describe()
    resets = []
    for how in ("flushall", "restart"):
        mark = d.mark()
        if how == "flushall":
            fx.client.flushall()
        else:
            fx.redis.stop()  # no persistence: it comes back empty
            time.sleep(0.5)
            fx.redis.start()
        resets.append(time.time())
        assert d.wait_for("Redis data reset detected", 6, mark), f"{how}\n{d.describe()}"
        assert wait_until(lambda: _catalog(fx) == {"t1", "t2", "t3"}, 3), (how, _catalog(fx))
        assert wait_until(lambda: fx.client.zcard("internalExecutionQueue") > 0, 3), "window not rebuilt"
        assert fx.client.get("internalEpoch"), "epoch marker re-created"
        assert wait_until(lambda: fx.starts(after=resets[-1] + 0.5), 4), f"no run after the {how}\n{d.describe()}"
        assert d.alive()
        assert d.since(mark).count("Redis data reset detected") == 1, d.since(mark)
    assert "Traceback" not in d.text
    fx.stop_all()
    # what ran before a reset lost its hash; an occurrence still inside its expiry may be planned
    # and run once more after it: that is the data loss, not a dispatcher fault
    fx.check(lost_ok_before=resets[-1], dup_ok_before=resets[-1])


def test_f11_restart_with_persistence_resumes_without_double_runs(fx):
    srv = fx.use_redis(RedisServer("--appendonly", "yes", "--appendfsync", "always", persist=True))
    fx.helpers("f11.py", *EVERY_1S, ("long", DUE_NOW, "sleep", 2.0))
    d1 = fx.dispatcher()
    d2 = fx.dispatcher()
    assert wait_until(lambda: len(fx.starts()) >= 6, 6)
    mark = d1.mark()
    srv.stop()  # kill -9; AOF fsync always: every acknowledged transition is on disk
    time.sleep(0.7)
    srv.start()
    back = time.time()
    assert wait_until(lambda: len({e.execution_id for e in fx.starts(after=back + 0.2)}) >= 3, 6), d1.describe()
    time.sleep(1)
    assert d1.alive() and d2.alive()
    assert "Redis data reset detected" not in d1.since(mark) + d2.text
    fx.stop_all()
    figures = fx.check()
    assert figures["duplicates"] == 0


def test_f12_redis_sigstop_3s_helpers_stopped_in_time_no_duplicate_dispatchers_resume(fx):
    fx.helpers("f12.py", *EVERY_1S, ("long", DUE_NOW, "beat"))
    d1 = fx.dispatcher()
    d2 = fx.dispatcher()
    assert wait_until(lambda: len(fx.starts()) >= 6, 6)
    long_ = fx.starts("long")[0]
    owner_id = fx.execution(long_.execution_id)["dispatcher"]
    owner = next(d for d in (d1, d2) if d.dispatcher_id == owner_id)
    marks = [d.mark() for d in (d1, d2)]
    stalled_at = time.time()
    stall_redis(fx.redis, 3.0)  # every call blocks until its socket timeout: an outage for both
    resumed = time.time()
    assert not alive(long_.pid), "the long helper is still running after a 3 s stall (its lease could not be renewed)"
    beats = fx.beats(long_.pid)
    # its owner stopped it on its local lease (2/3 of the lease from the last renewal, checked
    # before every Redis step, each bounded by lease/3): at most a lease after the stall began
    assert max(beats) <= stalled_at + LEASE, f"last beat {max(beats) - stalled_at:.2f}s after the stall began"
    row = wait_until(lambda: (r := fx.execution(long_.execution_id)).get("status") == "error" and r, 3)
    assert row and row["reason"] == "abandoned", row
    assert max(beats) < float(row["finishedAt"])
    assert wait_until(lambda: len({e.execution_id for e in fx.starts(after=resumed + 0.5)}) >= 3, 6)
    time.sleep(LEASE + 1)
    assert d1.alive() and d2.alive()
    fx.stop_all()
    fx.check()
    for d, mark in zip((d1, d2), marks):
        text = d.since(mark)
        assert text.count("Redis unavailable") == 1 and text.count("Redis is back") == 1, text
        assert 3 - 1.0 <= _back_after(text)[0] <= 3 + 1.0, text
        assert "Traceback" not in text
    assert owner.since(marks[(d1, d2).index(owner)]).count(_lease_line(long_.execution_id)) == 1, owner.text
    assert len(fx.starts("long")) == 1


def test_f14_proxy_kills_every_100ms_for_5s(fx):
    proxy = fx.proxy()
    fx.helpers("f14.py", *EVERY_1S, ("t4", every(1), "sleep", 0.1), ("long", DUE_NOW, "beat"))
    d = fx.dispatcher(url=fx.proxy_url(proxy))
    peer = fx.dispatcher()  # connected directly: it takes whatever the proxied one lets go
    assert wait_until(lambda: len(fx.starts()) >= 4, 6)
    mark = d.mark()
    kills = aborted = 0
    # RST every open link every 100 ms (idle links are replaced transparently by redis-py), and
    # lose 10 % of the replies mid-command (claims, renewals, outcomes applied but unanswered)
    proxy.cut_replies = 0.1
    until = time.monotonic() + 5
    while time.monotonic() < until:
        aborted += proxy.kill_all()
        kills += 1
        time.sleep(0.1)
    proxy.cut_replies = 0.0
    assert d.alive() and peer.alive()
    # the peer (direct, so faster) would win every race: stop it to see the proxied one claim again
    peer.term()
    assert peer.wait(10) == 0, peer.describe()
    calm, calm_mark = time.time(), d.mark()
    assert d.wait_for("[DISPATCHER] started", 8, calm_mark), "claims resume after the storm\n" + d.describe()
    time.sleep(LEASE + 1)
    assert d.alive()
    outages = d.count("Redis unavailable", mark)
    backs = d.count("Redis is back", mark)
    print(
        f"{kills} kill_all() calls aborted {aborted} links, {proxy.cuts} replies cut: "
        f"{outages} 'Redis unavailable', {backs} 'Redis is back'"
    )
    assert outages <= kills + proxy.cuts, "at most one 'Redis unavailable' per outage"
    assert abs(outages - backs) <= 1
    assert "Traceback" not in d.text
    fx.stop_all()
    figures = fx.check()
    assert figures["duplicates"] == 0 and figures["stuck"] == 0
    assert fx.starts(after=calm + 0.5)


def _lease_line(eid: str) -> str:
    return f"lease of {eid} could not be renewed in time; its helper was stopped and its outcome is left to the reaper"


def _back_after(text: str, what: str = "Redis is back after ") -> list[float]:
    """The N of every `<what>N s` line."""
    return [float(part.split("s", 1)[0]) for part in text.split(what)[1:]]


def _blackhole_the_owner(fx, filename: str, *specs):
    """The first helper of `specs` starts on a dispatcher connected through a chaos proxy, a peer
    connects directly, then the proxy black-holes the owner. Returns (proxy, owner, peer, the
    helper's starts, the owner's output mark, when the hole opened, the end of the helper's lease)."""
    proxy = fx.proxy()
    fx.helpers(filename, *specs)
    holed = fx.dispatcher(url=fx.proxy_url(proxy))
    start = wait_until(lambda: fx.starts(specs[0][0]), 6)
    assert start, holed.describe()
    peer = fx.dispatcher()
    mark = holed.mark()
    proxy.set_mode("blackhole")
    hole_at = time.time()
    time.sleep(0.05)  # a renewal already on the wire may still land; none after it
    lease_until = float(fx.execution(start[0].execution_id)["leaseUntil"])
    return proxy, holed, peer, start, mark, hole_at, lease_until


def test_f15_blackhole_3x_lease_calls_bounded_helper_stopped_peer_reaps_no_stale_write(fx):
    proxy, holed, peer, start, mark, hole_at, lease_until = _blackhole_the_owner(
        fx, "f15.py", ("held", DUE_NOW, "beat"), ("t1", every(1), "ok"), ("t2", every(1), "ok")
    )
    eid, pid = start[0].execution_id, start[0].pid
    # cut off, the owner stops its helper before the lease can lapse (local lease: 2/3 of it)
    died = wait_until(lambda: not alive(pid) and time.time(), LEASE + 1, 0.01)
    row = wait_until(lambda: (r := fx.execution(eid)).get("status") == "error" and r, LEASE + 3)
    time.sleep(max(0.0, hole_at + 3 * LEASE - time.time()))
    proxy.set_mode("pass")
    hole_end = time.time()
    holed_links = len(proxy.blackhole_waits)
    beats = fx.beats(pid)

    assert died, f"helper {pid} of the cut-off dispatcher still alive\n{holed.describe()}"
    print(
        f"lease until {lease_until:.3f}: the owner's helper died {died - lease_until:+.3f}s after it "
        f"(last beat {max(beats) - lease_until:+.3f}s)"
    )
    assert died <= lease_until + 0.03 and max(beats) < lease_until, (
        f"helper alive {died - lease_until:+.3f}s after its lease ran out"
    )
    # a peer connected directly reaps the stuck execution once its lease lapsed
    assert row and row["reason"] == "abandoned", (fx.execution(eid), peer.describe())
    assert row["dispatcher"] == holed.dispatcher_id, row
    finished = float(row["finishedAt"])
    assert lease_until <= finished <= lease_until + 1.0, f"reaped {finished - lease_until:+.2f}s after the lease"
    assert died <= finished
    # no Redis call of the black-holed dispatcher blocked longer than ~lease/3
    waits = sorted(proxy.blackhole_waits)
    print(f"black hole {hole_end - hole_at:.1f}s: {holed_links} links gave up after {[round(w, 2) for w in waits]}s")
    assert waits and max(waits) <= LEASE / 3 + 0.25, waits
    assert holed_links >= 3, "the dispatcher kept trying (probing) through the hole"
    # after the hole: one outage, logged once; the helper's stop logged once; no stale outcome
    assert holed.wait_for("Redis is back", 5, mark), "no 'Redis is back'\n" + holed.describe()
    peer.term()
    assert peer.wait(10) == 0, peer.describe()
    back = holed.mark()
    assert holed.wait_for("[DISPATCHER] started", 6, back), "claims do not resume\n" + holed.describe()
    text = holed.since(mark)
    assert text.count("Redis unavailable") == 1 and text.count("Redis is back") == 1, text
    backs = _back_after(text)
    assert 3 * LEASE - 1.0 <= backs[0] <= 3 * LEASE + 1.0, backs
    assert text.count(_lease_line(eid)) == 1, text
    assert f"{eid} succeeded" not in text and f"outcome of {eid}" not in text and "lease lost" not in text, text
    after = fx.execution(eid)
    assert (after["status"], after["reason"], after["finishedAt"]) == ("error", "abandoned", row["finishedAt"])
    # the abandoned execution never ran again (the helper's next hourly occurrence may fall in the test)
    assert len([s for s in fx.starts("held") if s.execution_id == eid]) == 1
    fx.stop_all()
    fx.check(before={eid: (row["status"], row["finishedAt"])})


def test_f15_blackholed_owner_stops_its_helper_before_a_peer_reruns_it(fx):
    """retry_on_abandon: a peer re-runs an abandoned execution; the cut-off owner must have
    stopped its own run before the lease ran out (local lease 2/3 of it, checked before every
    Redis step, each step bounded by lease/3), or one id would run twice at the same time."""
    proxy, holed, peer, start, mark, _hole_at, lease_until = _blackhole_the_owner(
        fx, "f15b.py", ("idem", {**DUE_NOW, "retry_on_abandon": 1}, "beat"), ("t1", every(1), "ok")
    )
    eid, pid = start[0].execution_id, start[0].pid
    died = wait_until(lambda: not alive(pid) and time.time(), 3 * LEASE, 0.01)
    rerun = wait_until(lambda: fx.starts("idem", after=start[0].at + 0.01), 3 * LEASE)
    proxy.set_mode("pass")
    assert rerun, f"the peer did not re-run {eid}\n{peer.describe()}"
    beats = fx.beats(pid)
    print(
        f"lease until {lease_until:.3f}; owner's helper died {died and died - lease_until:+.3f}s after it "
        f"(last beat {max(beats) - lease_until:+.3f}s); peer re-ran it {rerun[0].at - lease_until:+.3f}s after it"
    )
    assert died and died <= lease_until + 0.03 and max(beats) < lease_until, (
        f"helper alive {died and died - lease_until:+.3f}s after its lease ran out"
    )
    assert died <= rerun[0].at and max(beats) < rerun[0].at, "the re-run started while the first run was alive"
    assert rerun[0].pid != pid and rerun[0].at >= lease_until
    assert holed.wait_for("Redis is back", 5, mark), holed.describe()
    time.sleep(0.5)
    assert holed.since(mark).count(_lease_line(eid)) == 1, holed.since(mark)
    fx.stop_all()
    figures = fx.check(retries_ok=True)
    assert figures["attempt_records"] == 1, figures  # idem#1: abandoned, then attempt 2 ran


def _fill_to_the_limit(client) -> None:
    """maxmemory = used + 64 kB (noeviction), filled with 1 kB values until even a tiny write is
    refused; then 64 kB of head-room below the used memory, so the dispatcher's own deletions
    (ZREM) cannot bring Redis back under the limit."""
    import redis

    client.config_set("maxmemory", used_memory(client) + 64 * 1024)
    for i in range(10_000):
        try:
            client.set(f"filler:{i}", "x" * 1024)
        except redis.exceptions.OutOfMemoryError:
            break
    client.config_set("maxmemory", used_memory(client) - 64 * 1024)
    try:
        client.set("filler:probe", "1")
    except redis.exceptions.OutOfMemoryError:
        return
    raise AssertionError("Redis still accepts writes")


OOM_START = "Redis is out of memory and refuses writes"
OOM_END = "Redis accepts writes again after "


def _restore_memory(client) -> float:
    client.config_set("maxmemory", 0)
    client.delete(*client.keys("filler:*"))
    return time.time()


def _false_not_recorded(fx, d) -> list[str]:
    """'outcome of X not recorded: it is no longer ours' for an X this very dispatcher recorded
    as success: an outcome sent twice (reported as fenced although it was written)."""
    problems = []
    for line in d.text.splitlines():
        if "not recorded: it is no longer ours" in line:
            eid = line.split("outcome of ", 1)[1].split()[0]
            row = fx.execution(eid)
            if row.get("status") == "success" and row.get("dispatcher") == d.dispatcher_id:
                problems.append(f"false 'not recorded' for {eid}, recorded as success by this dispatcher")
    return problems


def _oom_log_checks(text: str, seconds: float) -> None:
    """OOM is its own condition, logged once at each end; it is not an outage."""
    assert text.count(OOM_START) == 1, text
    assert text.count(OOM_END) == 1, text
    assert text.index(OOM_START) < text.index(OOM_END)
    took = _back_after(text, OOM_END)[0]
    # from the first refused write to the first write probe (at most one a second) that succeeds
    assert seconds - 0.6 <= took <= seconds + 1.2, f"'{OOM_END}{took}s' for a {seconds:.1f}s OOM"
    assert "Redis unavailable" not in text and "Redis is back" not in text, text
    assert "Traceback" not in text and "unexpected error" not in text, text


def test_f17_short_oom_pauses_claims_keeps_a_completion_and_writes_it_after(fx):
    """An OOM shorter than the leases (lease 3 s, OOM 1.5 s): a helper that completes during it
    keeps its outcome in memory and writes it afterwards; nothing is claimed, nothing abandoned."""
    lease, seconds = 3.0, 1.5
    fx.helpers("f17.py", *EVERY_1S, ("slow", DUE_NOW, "sleep", 0.6))
    d = fx.dispatcher(lease=lease, concurrency=8)  # never full (see the full-pool test below)
    start = wait_until(lambda: fx.starts("slow"), 6)
    assert start, d.describe()
    eid = start[0].execution_id
    assert fx.client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    mark = d.mark()  # before the fill: the dispatcher may log the OOM before the fill returns
    _fill_to_the_limit(fx.client)  # now every write is refused
    oom_at = time.time()
    cpu0 = cpu_seconds(d.pid)
    assert wait_until(lambda: [e for e in fx.log() if e.kind == "end" and e.execution_id == eid], seconds), (
        "the helper completes during the OOM"
    )
    time.sleep(max(0.0, oom_at + seconds - time.time()))
    cpu = cpu_seconds(d.pid) - cpu0
    assert d.alive(), d.describe()
    assert fx.execution(eid)["status"] == "running", "Redis refused the outcome: not written yet"
    assert not fx.starts(after=oom_at + 0.3), "nothing can be claimed while Redis refuses writes"
    restored = _restore_memory(fx.client)
    row = wait_until(lambda: (r := fx.execution(eid)).get("status") in ("success", "error") and r, 2)
    assert row and row["status"] == "success", ("the completion is kept through the OOM and written", row)
    assert float(row["finishedAt"]) >= restored - 0.05, row
    assert wait_until(lambda: fx.starts(after=restored + 0.3), 4), "claims resume\n" + d.describe()
    time.sleep(1)
    assert d.alive()
    text = d.since(mark)
    fx.stop_all()
    figures = fx.check(lease=lease)
    print(f"OOM {seconds}s: dispatcher CPU {cpu:.2f}s; figures {figures['status']} {figures['error_reasons']}")
    _oom_log_checks(text, seconds)
    assert "could not be renewed" not in text and "not recorded" not in text, text
    assert figures["abandoned"] == 0, figures
    assert cpu < seconds / 2, f"spinning: {cpu:.2f} CPU seconds in {seconds}s"
    assert not _false_not_recorded(fx, d)


def test_f17_long_oom_stops_helpers_whose_lease_runs_out_they_end_abandoned(fx):
    """An OOM longer than the lease (1.5 s, OOM 3 s): renewals are refused, so a running helper is
    stopped before its lease lapses and ends abandoned; a completion whose lease ran out during the
    OOM may end abandoned too (the reaper may act first), never anything else."""
    seconds = 3.0
    fx.helpers("f17b.py", *EVERY_1S, ("long", DUE_NOW, "beat"), ("quick", DUE_NOW, "sleep", 0.2))
    d = fx.dispatcher(concurrency=8)  # never full (see the full-pool test below)
    started = wait_until(lambda: len({e.helper for e in fx.starts()} & {"long", "quick"}) == 2 and fx.starts(), 6)
    assert started, d.describe()
    long_ = fx.starts("long")[0]
    quick = fx.starts("quick")[0]
    mark = d.mark()  # before the fill: the dispatcher may log the OOM before the fill returns
    _fill_to_the_limit(fx.client)
    oom_at = time.time()
    cpu0 = cpu_seconds(d.pid)
    time.sleep(0.05)
    lease_until = float(fx.execution(long_.execution_id)["leaseUntil"])
    died = wait_until(lambda: not alive(long_.pid) and time.time(), seconds, 0.01)
    time.sleep(max(0.0, oom_at + seconds - time.time()))
    cpu = cpu_seconds(d.pid) - cpu0
    assert d.alive(), d.describe()
    assert not fx.starts(after=oom_at + 0.3), "nothing can be claimed while Redis refuses writes"
    beats = fx.beats(long_.pid)
    assert died, f"the long helper kept running through a {seconds}s OOM\n{d.describe()}"
    print(
        f"lease until {lease_until:.3f}: long helper died {died - lease_until:+.3f}s after it "
        f"(last beat {max(beats) - lease_until:+.3f}s)"
    )
    assert died <= lease_until + 0.03 and max(beats) < lease_until, (
        f"helper alive {died - lease_until:+.3f}s after its lease ran out"
    )
    restored = _restore_memory(fx.client)

    row = wait_until(lambda: (r := fx.execution(long_.execution_id)).get("status") == "error" and r, 3)
    assert row and row["reason"] == "abandoned", row
    assert float(row["finishedAt"]) >= restored - 0.05, row
    q = wait_until(lambda: (r := fx.execution(quick.execution_id)).get("status") in ("success", "error") and r, 3)
    assert q and (q["status"], q.get("reason")) in (("success", None), ("error", "abandoned")), q
    assert wait_until(lambda: fx.starts(after=restored + 0.3), 4), "claims resume\n" + d.describe()
    time.sleep(1)
    text = d.since(mark)
    fx.stop_all()
    figures = fx.check()
    print(
        f"OOM {seconds}s: dispatcher CPU {cpu:.2f}s; quick {q['status']}/{q.get('reason')}; "
        f"figures {figures['status']} {figures['error_reasons']}"
    )
    _oom_log_checks(text, seconds)
    assert text.count(_lease_line(long_.execution_id)) == 1, text
    fenced = f"outcome of {quick.execution_id} not recorded: it is no longer ours"
    assert text.count(fenced) == (1 if q["status"] == "error" else 0), text
    # only executions whose lease ran out during the OOM end abandoned
    started_at = {e.execution_id: e.at for e in fx.starts()}
    for eid in figures["abandoned_ids"]:
        assert started_at.get(eid, 0) < oom_at + 0.3, f"{eid} abandoned but started after the OOM began"
    assert cpu < seconds / 2, f"spinning: {cpu:.2f} CPU seconds in {seconds}s"
    assert not _false_not_recorded(fx, d)


def test_f17_oom_with_a_full_pool_is_logged_once(fx):
    """Every slot busy during an OOM, nothing to write: the OOM is still one ERROR and one
    WARNING (a step that writes nothing must not count as 'Redis accepts writes again'; 18 pairs
    in 1.5 s before 960cd71)."""
    lease, seconds = 3.0, 1.5
    fx.helpers("f17c.py", ("a", DUE_NOW, "beat"), ("b", DUE_NOW, "beat"))
    d = fx.dispatcher(lease=lease, concurrency=2)
    assert wait_until(lambda: fx.starts("a") and fx.starts("b"), 6), d.describe()
    mark = d.mark()  # before the fill: the dispatcher may log the OOM before the fill returns
    _fill_to_the_limit(fx.client)
    time.sleep(seconds)
    _restore_memory(fx.client)
    time.sleep(1)
    text = d.since(mark)
    fx.stop_all()
    fx.check(lease=lease)
    print(
        f"OOM {seconds}s with a full pool: {text.count(OOM_START)} x '{OOM_START}', "
        f"{text.count(OOM_END)} x '{OOM_END}...'"
    )
    _oom_log_checks(text, seconds)


def _clean_outage(fx, seconds: float = 2.0) -> tuple[str, int, float]:
    """A dispatcher behind a proxy that refuses every connection for `seconds`, then lets it
    back; returns (its log during and after the outage, connection attempts during it, length)."""
    proxy = fx.proxy()
    fx.helpers("f16.py", ("t1", every(1), "ok"))
    d = fx.dispatcher(url=fx.proxy_url(proxy))
    assert wait_until(lambda: fx.starts("t1"), 5), d.describe()
    mark = d.mark()
    accepted = proxy.accepted
    proxy.set_mode("drop")  # every connection refused at once: a clean outage
    dropped_at = time.time()
    time.sleep(seconds)
    proxy.set_mode("pass")
    back = time.time()
    attempts = proxy.accepted - accepted  # each attempt during the outage is a new connection
    assert wait_until(lambda: fx.starts("t1", after=back + 0.3), 4), d.describe()
    assert d.alive()
    text = d.since(mark)
    print(
        f"{back - dropped_at:.1f}s outage: 'Redis unavailable' x{text.count('Redis unavailable')}, "
        f"'Redis is back' x{text.count('Redis is back')} {_back_after(text)}, {attempts} connection attempts"
    )
    fx.stop_all()
    fx.check()
    return text, attempts, back - dropped_at


def test_f16_an_outage_is_logged_once(fx):
    text, _attempts, seconds = _clean_outage(fx)
    assert text.count("Redis unavailable") == 1 and text.count("Redis is back") == 1, text[-3000:]
    assert text.index("Redis unavailable") < text.index("Redis is back")
    assert seconds - 0.5 <= _back_after(text)[0] <= seconds + 1.1, text  # probed once a second
    assert "Traceback" not in text


def test_f16_an_outage_is_probed_at_most_once_a_second(fx):
    """While an outage lasts, steps are skipped and Redis is probed (PING) at most once a second,
    whatever --tick is (0.1 s here)."""
    text, attempts, seconds = _clean_outage(fx)
    assert attempts <= seconds + 2, f"{attempts} connection attempts in a {seconds:.1f}s outage"
    assert "retrying every second" in text, text


def test_f16_a_short_outage_that_skips_one_renewal_does_not_stop_running_helpers(fx):
    """The local lease (2/3 lease) is shorter than two renewal periods: a renewal missed in an
    outage must be made as soon as Redis answers, or every running helper is stopped although
    Redis is back and the lease in Redis is still valid. Redis is probed once a second, so the
    lease leaves room for that: 6 s (renewals every 2 s, local lease 3.95 s)."""
    lease = 6.0
    proxy = fx.proxy()
    fx.helpers("f16c.py", ("long", DUE_NOW, "beat"), ("t1", every(1), "ok"))
    d = fx.dispatcher(url=fx.proxy_url(proxy), lease=lease)
    start = wait_until(lambda: fx.starts("long"), 6)
    assert start, d.describe()
    eid, pid = start[0].execution_id, start[0].pid
    key = "execution:" + eid
    first = fx.client.hget(key, "leaseUntil")
    assert wait_until(lambda: fx.client.hget(key, "leaseUntil") != first, lease), "no renewal"
    renewed = float(fx.client.hget(key, "leaseUntil")) - lease  # when it renewed (its clock)
    period, local = lease / 3, lease * 2 / 3 - 0.05
    mark = d.mark()
    # a 0.3 s outage around the next renewal: the dispatcher sees Redis back (next probe) within
    # a second of its first failure, ~0.9 s before the local lease runs out
    time.sleep(max(0.0, renewed + period - 0.15 - time.time()))
    proxy.set_mode("drop")
    time.sleep(max(0.0, renewed + period + 0.15 - time.time()))
    proxy.set_mode("pass")
    back = time.time()
    time.sleep(max(0.0, renewed + local + 0.5 - time.time()))
    text = d.since(mark)
    lease_now = fx.execution(eid).get("leaseUntil")
    print(
        f"outage {period - 0.15:.2f}-{back - renewed:.2f}s after a renewal; helper alive {alive(pid)}; "
        f"leaseUntil now {lease_now and float(lease_now) - renewed:.2f}s after it"
    )
    assert text.count("Redis unavailable") == 1 and text.count("Redis is back") == 1, text
    assert alive(pid), (
        f"the helper was stopped although Redis was back {renewed + local - back:.2f}s before its "
        f"local lease ran out:\n{text}"
    )
    assert _lease_line(eid) not in text, text
    assert lease_now and float(lease_now) > renewed + lease + period / 2, "renewed again after the outage"
    fx.stop_all()
    fx.check(lease=lease)


def test_f19_sentinel_failover_no_execution_runs_twice(fx):
    """With Sentinel a claim waits for a replica ack. In a failover the old master loses its
    replica at the promotion and is named "old" by Sentinel only later: claims made on it in
    between must not start (they are handed back), or the new master, which never saw them,
    has them claimed and run a second time."""
    fx.sentinels = sentinels = Sentinels(fx.root)
    assert sentinels.wait_healthy(), "sentinel set-up not healthy"
    # a backlog (0.1 s each, 4 at a time: ~3 s of back-to-back claims) keeps the dispatcher claiming
    # through the whole failover, so any claim the new master does not have shows
    backlog = [(f"b{i:03d}", DUE_NOW, "sleep", 0.1) for i in range(120)]
    fx.helpers("f19.py", *EVERY_1S, *backlog)
    # it asks sentinel 0 (held below) last, so holding it never stalls the dispatcher
    d = fx.dispatcher(url=sentinels.url_asking(1, 2, 0))
    assert wait_until(lambda: len(fx.starts()) >= 4, 6), d.describe()
    old = sentinels.master_port_now()
    watch = FailoverWatch(sentinels)
    try:
        mark = d.mark()
        asked = time.time()
        # Sentinel promotes the replica (REPLICAOF NO ONE), then names it once its next INFO of the
        # replica (every 1 s) shows the promotion: 0.1-1 s later. Hold the leader (the sentinel
        # asked) for 1 s right after the promotion, so every run has the slow case.
        replica = redis.Redis(host="127.0.0.1", port=sentinels.replica_port, decode_responses=True, socket_timeout=1)
        sentinels.sentinel().execute_command("SENTINEL", "FAILOVER", Sentinels.SERVICE)
        assert wait_until(lambda: replica.info("replication")["role"] == "master", 5, 0), "no promotion"
        leader = sentinels.sentinel_pid(0)
        os.kill(leader, signal.SIGSTOP)
        try:
            time.sleep(1.0)
        finally:
            os.kill(leader, signal.SIGCONT)
        assert wait_until(lambda: sentinels.master_port_now() != old, 10, 0.05), "Sentinel did not switch"
        new = sentinels.master_port_now()
        assert wait_until(lambda: watch.named_at, 5), "sentinel 1 does not name the new master"
        assert watch.promoted_at and watch.named_at - watch.promoted_at >= 0.8, (
            f"the failover was not held: named {watch.named_at - (watch.promoted_at or 0):.3f}s after the promotion"
        )
        client = sentinels.client()
        assert client.info("replication")["role"] == "master"
        assert d.wait_for("Sentinel names a new master; reconnected", 5, mark), d.describe()
        reconnected = time.time()

        def ran_on_new_master():
            ids = {e.execution_id for e in fx.starts(after=reconnected + 0.2)}
            return [i for i in ids if client.hget("execution:" + i, "status") == "success"]

        assert wait_until(ran_on_new_master, 10, 0.1), d.describe()
        # before Sentinel demotes the old master (~10 s after the switch): which server has which claim
        old_client = watch.clients["old"]
        waits_since = watch.wait_calls() - (watch.waits_at_promotion or 0)
        twice = sorted(i for i, n in Counter(e.execution_id for e in fx.starts()).items() if n > 1)
        evidence = []
        for eid in twice:
            a, b = old_client.hgetall("execution:" + eid), client.hgetall("execution:" + eid)
            evidence.append(
                f"    {eid}: old master: claimed {float(a.get('startedAt', 0)) - asked:+.3f}s token "
                f"{a.get('token') or '-'} {a.get('status')}; new master: claimed "
                f"{float(b.get('startedAt', 0)) - asked:+.3f}s {b.get('status')}"
            )
        assert d.alive()
        time.sleep(LEASE + 1)
    finally:
        watch.close()
    fx.stop_all()
    text = d.since(mark)
    promoted = watch.promoted_at
    print(
        f"failover {old} -> {new} asked at 0: replica promoted {promoted and promoted - asked:+.3f}s, Sentinel "
        f"named it {watch.named_at and watch.named_at - asked:+.3f}s, dispatcher reconnected "
        f"{reconnected - asked:+.3f}s; {len(twice)} ids ran twice; WAITs on the old master since the promotion: "
        f"{waits_since}\n" + watch.timeline(asked) + "\n" + "\n".join(evidence[:10])
    )
    assert text.count("Sentinel names a new master; reconnected") == 1, text
    assert not twice, (
        f"{len(twice)} executions ran twice: claimed on the old master after it lost its replica "
        f"(promotion {promoted and promoted - asked:+.3f}s, {waits_since} WAITs since), again on "
        f"the new master after the reconnect ({reconnected - asked:+.3f}s):\n" + "\n".join(evidence[:10])
    )
    # claims made on the old master between the promotion and the switch were not started
    window = [e for e in fx.starts() if promoted + 0.3 <= (e.at or 0) <= watch.named_at - 0.05]
    assert not window, f"started while the old master had no replica: {[e.execution_id for e in window]}"
    assert waits_since >= 1 and "claims were not acknowledged by a replica" in text, text
    fx.check(client=client)


def test_f20_sentinel_replica_lost_without_failover_work_goes_on(fx):
    """A replica that dies (no failover: the master is fine) must not stop the work: claims wait
    for replica acks only while a replica is connected or Sentinel still lists a healthy one (it
    marks a dead one down after down-after-milliseconds, 1 s here)."""
    fx.sentinels = sentinels = Sentinels(fx.root)
    assert sentinels.wait_healthy(), "sentinel set-up not healthy"
    fx.helpers("f20.py", ("t1", every(1), "ok"))
    d = fx.dispatcher(url=sentinels.url)
    assert wait_until(lambda: len(fx.starts()) >= 2, 6), d.describe()
    master = sentinels.client()
    replica = sentinels.procs[1]  # the replica's redis-server
    replica.kill()
    replica.wait(5)
    lost = time.time()
    assert wait_until(lambda: int(master.info("replication")["connected_slaves"]) == 0, 2)
    time.sleep(6)
    assert d.alive()
    # give it 2 s to notice; what falls due after that runs
    due = range(int(lost) + 3, int(lost) + 5)
    rows = {t: master.hgetall(f"execution:t1:{t}") for t in due}
    print(
        f"replica lost at {lost:.2f}: t1 due at {[round(t - lost, 2) for t in due]}s: "
        f"{[(r.get('status'), r.get('reason')) for r in rows.values()]}; starts after the loss "
        f"{[round(e.at - lost, 2) for e in fx.starts(after=lost)]}; "
        f"{d.since(0).count('claims were not acknowledged by a replica')} 'not acknowledged' warnings"
    )
    assert all(r.get("status") == "success" for r in rows.values()), (rows, d.since(0)[-2000:])
    fx.stop_all()
    fx.check(client=master)
