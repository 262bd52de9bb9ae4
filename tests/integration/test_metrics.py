"""The metrics against a real Redis: every way an execution ends is counted by the script that
ends it (success, error, a retried attempt, expired by the claim and by the sweep, quarantined,
abandoned), the counters equal what history holds, and /metrics shows them in the Prometheus
text format (parsed back with prometheus_client's own parser), in both queue layouts."""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from queuectl.api.metrics import render
from queuectl.domain import keys
from queuectl.domain.models import HelperRecord, format_time
from queuectl.domain.schedule import parse_schedule
from queuectl.store import catalog, dispatchers
from queuectl.store import metrics as store_metrics
from queuectl.store.planner import keep_seconds
from queuectl.store.scripts import ClaimRequest, ClaimResult, Outcome, PlanGroup, Scripts
from support import NOW

KEEP = keep_seconds(86400)
INTERVAL_600 = {"type": "interval", "interval_seconds": 600, "priority": 3, "expiry": 600, "timezone": "UTC"}


@pytest.fixture()
def scripts(client: redis.Redis) -> Scripts:
    return Scripts(client)


def put_helper(scripts: Scripts, name: str, schedule: dict | None = None) -> None:
    config = parse_schedule(schedule or INTERVAL_600, default_timezone="UTC")
    record = HelperRecord(
        name=name,
        rev=1,
        status="ok",
        problem=None,
        schedule=config,
        default=config,
        override=None,
        source=None,
        class_name=None,
    )
    assert catalog.put_many(scripts, [(None, record)]) == []


def plan(scripts: Scripts, helper: str, at: int, *, write_hashes: bool) -> str:
    put_helper(scripts, helper)
    created, _, _ = scripts.plan(
        str(NOW), [PlanGroup(helper=helper, rev="1", occurrences=[(at, 600, 3)])], write_hashes=write_hashes
    )
    assert created == 1
    return f"{helper}:{at}"


def claim(scripts: Scripts, now: float) -> ClaimResult:
    return scripts.claim(
        ClaimRequest(
            now=format_time(now),
            limit=10,
            owner="d1",
            lease_until=format_time(now + 30),
            token_prefix=f"t{now}",
            scan=1000,
            keep=KEEP,
        )
    )


def finish(scripts: Scripts, now: float, *outcomes: Outcome) -> list[int]:
    return scripts.finish(now=format_time(now), keep=KEEP, outcomes=outcomes)


def families(app) -> dict[str, list]:
    """/metrics parsed back: family name -> samples."""
    body, content_type = render(app)
    assert content_type.startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(body.decode())}


def sample(fams: dict[str, list], family: str, name: str, **labels: str) -> float | None:
    found = [s.value for s in fams[family] if s.name == name and s.labels == labels]
    assert len(found) <= 1
    return found[0] if found else None


def history_counts(client: redis.Redis) -> Counter:
    """(helper, status) of every history entry, read from the entries' hashes."""
    out: Counter = Counter()
    for execution_id in client.zrange(keys.EXECUTION_HISTORY, 0, -1):
        status = client.hget(keys.execution_key(execution_id), "status")
        out[(execution_id.partition("#")[0].rpartition(":")[0], status)] += 1
    return out


def drive_every_ending(scripts: Scripts, client: redis.Redis, *, write_hashes: bool) -> dict[str, str]:
    """One execution per way of ending, through the real scripts; returns {helper: execution id}."""
    ids = {name: plan(scripts, name, NOW, write_hashes=write_hashes) for name in ("ok", "bad", "retry", "gone")}
    ids["late"] = plan(scripts, "late", NOW - 1000, write_hashes=write_hashes)  # past its 600 s expiry
    ids["stale"] = plan(scripts, "stale", NOW - 2000, write_hashes=write_hashes)
    ids["ghost"] = f"ghost:{NOW}"  # a queue entry whose helper has no catalog entry: quarantined
    client.zadd(keys.EXECUTION_QUEUE, {ids["ghost"]: NOW * 10 + 3})

    # the sweep expires `stale` (it looks at due members only from the oldest up, so give it all)
    expired, _looked, _kept, _anomalies = scripts.expire(now=format_time(NOW), keep=KEEP, offset=0, limit=1)
    assert expired == 1
    first = claim(scripts, NOW + 0.02)  # expires `late`, quarantines `ghost`, claims the other four
    assert first.expired == 1
    tokens = {c.helper: c.token for c in first.claimed}
    assert set(tokens) == {"ok", "bad", "retry", "gone"}
    assert finish(
        scripts,
        NOW + 1.2,
        Outcome(execution_id=ids["ok"], token=tokens["ok"], status="success", started=NOW + 0.2),
        Outcome(execution_id=ids["bad"], token=tokens["bad"], status="error", error="boom", started=NOW + 0.07),
        Outcome(
            execution_id=ids["retry"],
            token=tokens["retry"],
            status="error",
            error="once",
            retry_at=NOW + 29.5,
            started=NOW + 0.003,
        ),
    ) == [1, 1, 2]
    again = claim(scripts, NOW + 30.001)  # the retry, due at NOW + 30 (its retry time rounded up)
    [retried] = again.claimed
    assert retried.execution_id == ids["retry"]
    assert finish(
        scripts,
        NOW + 31,
        Outcome(execution_id=ids["retry"], token=retried.token, status="success", started=NOW + 30.04),
    ) == [1]
    reaped, _, _ = scripts.reap(now=format_time(NOW + 100), keep=KEEP)  # `gone`'s lease lapsed
    assert reaped == [ids["gone"]]
    return ids


@pytest.mark.parametrize("write_hashes", [True, False], ids=["documented", "compact"])
def test_every_ending_is_counted_and_the_counters_equal_history(app, client, scripts, write_hashes):
    drive_every_ending(scripts, client, write_hashes=write_hashes)

    expected = {
        ("ok", "success"): 1,
        ("bad", "error"): 1,
        ("retry", "error"): 1,  # the failed attempt, in history as retry:<t>#1
        ("retry", "success"): 1,
        ("gone", "error"): 1,  # abandoned
        ("late", "expired"): 1,  # expired by the claim
        ("stale", "expired"): 1,  # expired by the sweep
        ("ghost", "error"): 1,  # quarantined
    }
    assert history_counts(client) == Counter(expected)
    fams = families(app)
    counted = {
        (s.labels["helper"], s.labels["status"]): s.value
        for s in fams["queuectl_executions"]
        if s.name == "queuectl_executions_total"
    }
    assert counted == expected


@pytest.mark.parametrize("write_hashes", [True, False], ids=["documented", "compact"])
def test_lateness_and_duration_histograms_hold_each_start(app, client, scripts, write_hashes):
    """One histogram each for all helpers (the finish script adds a batch's observations up and
    writes each bucket once). The starts of drive_every_ending, lateness / duration in seconds:
    ok 0.2 / 1.0; bad 0.07 / 1.13; retry's first attempt 0.003 / 1.197, its second (due at its
    retry time, NOW + 30) 0.04 / 0.96; gone (started at its claim, reaped) 0.02 / 99.98. The
    executions that never started (expired, quarantined) are not observed."""
    drive_every_ending(scripts, client, write_hashes=write_hashes)
    fams = families(app)
    late, dur = "queuectl_execution_lateness_seconds", "queuectl_execution_duration_seconds"

    def buckets(family: str) -> dict[str, float]:
        return {s.labels["le"]: s.value for s in fams[family] if s.name == family + "_bucket"}

    assert sample(fams, late, late + "_count") == 5
    assert sample(fams, late, late + "_sum") == pytest.approx(0.333, abs=1e-5)
    assert buckets(late) == {
        **dict.fromkeys(("0.005", "0.01"), 1),
        "0.025": 2,
        "0.05": 3,
        "0.1": 4,
        **dict.fromkeys(("0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "300", "+Inf"), 5),
    }
    assert sample(fams, dur, dur + "_count") == 5
    assert sample(fams, dur, dur + "_sum") == pytest.approx(104.267, abs=1e-5)
    assert buckets(dur) == {
        **dict.fromkeys(("0.01", "0.05", "0.1", "0.25", "0.5"), 0),
        "1": 2,
        **dict.fromkeys(("2.5", "5", "10", "30", "60"), 4),
        **dict.fromkeys(("300", "900", "3600", "+Inf"), 5),
    }
    # no per-helper series: one histogram per family
    assert all("helper" not in s.labels for family in (late, dur) for s in fams[family])


def test_one_script_call_adds_a_batch_up_before_writing(app, client, scripts):
    """A batch of outcomes in one finish call is added up before it is written (one HINCRBY per
    distinct field): the counters are what one call per outcome would leave."""
    names = [f"many{n}" for n in range(5)]
    ids = [plan(scripts, name, NOW, write_hashes=True) for name in names]
    claimed = {c.execution_id: c.token for c in claim(scripts, NOW).claimed}
    assert set(claimed) == set(ids)
    outcomes = [Outcome(execution_id=i, token=claimed[i], status="success", started=NOW + n) for n, i in enumerate(ids)]
    assert finish(scripts, NOW + 10, *outcomes) == [1] * 5
    fams = families(app)
    d, g = "queuectl_execution_duration_seconds", "queuectl_helper_last_success_timestamp_seconds"
    assert sample(fams, d, d + "_count") == 5
    assert sample(fams, d, d + "_sum") == pytest.approx(10 + 9 + 8 + 7 + 6)
    assert {s.labels["le"]: s.value for s in fams[d] if s.name == d + "_bucket"}["10"] == 5
    for name in names:
        assert sample(fams, "queuectl_executions", "queuectl_executions_total", helper=name, status="success") == 1
        assert sample(fams, g, g, helper=name) == pytest.approx(NOW + 10)


def test_last_success_gauges_and_schedule_pace(app, client, scripts):
    drive_every_ending(scripts, client, write_hashes=True)
    put_helper(scripts, "nightly", {"type": "daily", "time": "03:00", "every_days": 2, "timezone": "UTC"})
    put_helper(scripts, "weekdays", {"type": "cron", "cron": "0 9 * * 1-5", "timezone": "UTC"})
    put_helper(scripts, "paused", {**INTERVAL_600, "enabled": False})
    dispatchers.beat(
        client,
        dispatchers.Heartbeat(
            dispatcher_id="h-1", host="h", pid=1, version="0", started_at=NOW, running=0, concurrency=1
        ),
        now=NOW,
        ttl=10,
    )
    client.zadd(keys.EXECUTION_QUEUE, {"ok:1796033400": 17960334003, "ok:1796034000": 17960340003})
    client.zadd(keys.RUNNING, {"bad:1796033400": NOW + 30})
    fams = families(app)

    g = "queuectl_helper_last_success_timestamp_seconds"
    assert sample(fams, g, g, helper="ok") == pytest.approx(NOW + 1.2)
    assert sample(fams, g, g, helper="retry") == pytest.approx(NOW + 31)
    assert sample(fams, g, g, helper="bad") is None
    assert sample(fams, "queuectl_queue_depth", "queuectl_queue_depth") == 2
    assert sample(fams, "queuectl_running_executions", "queuectl_running_executions") == 1
    assert sample(fams, "queuectl_dispatchers_alive", "queuectl_dispatchers_alive") == 1
    n, p = "queuectl_helper_next_run_timestamp_seconds", "queuectl_helper_period_seconds"
    # NOW is Monday 2026-11-30 10:00 UTC
    assert sample(fams, n, n, helper="ok") == NOW + 600
    assert sample(fams, p, p, helper="ok") == 600
    assert sample(fams, p, p, helper="nightly") == 2 * 86400
    assert sample(fams, n, n, helper="weekdays") == NOW + 23 * 3600  # Tuesday 09:00
    assert sample(fams, p, p, helper="weekdays") == 86400  # Tuesday to Wednesday
    assert sample(fams, n, n, helper="paused") is None  # disabled: no series, so no alert
    assert sample(fams, p, p, helper="paused") is None

    app.clock.advance(11)  # the heartbeat lapses
    assert sample(families(app), "queuectl_dispatchers_alive", "queuectl_dispatchers_alive") == 0


def test_a_damaged_metrics_hash_never_stops_a_transition(app, client, scripts):
    """The counters are best effort: an execution still ends, whole, when the metrics hash is of
    the wrong type or a field is not a number (Lua does not roll back)."""
    ok = plan(scripts, "ok", NOW, write_hashes=True)
    bad = plan(scripts, "bad", NOW, write_hashes=True)
    client.set(keys.METRICS, "not a hash")
    tokens = {c.helper: c.token for c in claim(scripts, NOW).claimed}
    assert finish(scripts, NOW + 1, Outcome(execution_id=ok, token=tokens["ok"], status="success")) == [1]
    assert client.hget(keys.execution_key(ok), "status") == "success"
    assert client.zscore(keys.EXECUTION_HISTORY, ok) is not None
    fams = families(app)  # the page renders, without counters
    assert fams["queuectl_executions"] == []
    assert sample(fams, "queuectl_running_executions", "queuectl_running_executions") == 1  # `bad`

    client.delete(keys.METRICS)
    client.hset(keys.METRICS, mapping={"runs|bad|error": "many", "dur_us": "1.5"})
    assert finish(scripts, NOW + 1, Outcome(execution_id=bad, token=tokens["bad"], status="error")) == [1]
    assert client.hget(keys.execution_key(bad), "status") == "error"
    assert client.hget(keys.METRICS, "dur|1") == "1"  # the fields that could be counted were
    fams = families(app)  # and the page still renders, without the unreadable fields
    assert sample(fams, "queuectl_executions", "queuectl_executions_total", helper="bad", status="error") is None
    d = "queuectl_execution_duration_seconds"
    assert sample(fams, d, d + "_count") == 1


def test_the_lua_buckets_are_the_ones_the_renderer_reads():
    lib = (resources.files("queuectl.store") / "lua" / "_lib.lua").read_text()
    for name, bounds in (
        ("LATENESS_BUCKETS", store_metrics.LATENESS_BUCKETS),
        ("DURATION_BUCKETS", store_metrics.DURATION_BUCKETS),
    ):
        table = re.search(rf"local {name} = (\{{.*?\}})\n", lib, re.S)
        assert table, name
        pairs = re.findall(r"\{([^{},]+), '([^']+)'\}", table.group(1))
        assert [text for _, text in pairs] == [*bounds, "+Inf"]
        assert [float(number) for number, _ in pairs[:-1]] == [float(b) for b in bounds]
        assert pairs[-1][0].strip() == "math.huge"
