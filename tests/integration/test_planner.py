"""Planning against a real Redis: the window holds exactly the schedule's occurrences, planning is
idempotent (also from several planners at once), and a planner with a stale catalog plans nothing."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from queuectl.domain import keys
from queuectl.domain.clock import ManualClock
from queuectl.infra.app import App, open_app
from queuectl.infra.config import Settings
from queuectl.store import catalog, control, planner
from queuectl.store.planner import keep_seconds
from queuectl.store.scripts import PlanGroup
from support import (
    NOW,
    add_helper,
    gather,
    ids_of,
    plan_catalog,
    queued,
    register,
    snapshot,
    start_and_join,
    write_helper,
)

WINDOW = 7200
HISTORY_TTL = 86400
KEEP = keep_seconds(HISTORY_TTL)


def plan_now(app: App, records=None, *, now: float | None = None, write_hashes: bool = True) -> planner.PlanReport:
    """Plan `records` (default: the catalog as it is now); `write_hashes=False`: the compact layout."""
    if records is None:
        records = catalog.read_all(app.client).values()
    return planner.plan(
        app.scripts,
        records,
        now=app.clock.time() if now is None else now,
        window=app.settings.window,
        history_ttl=app.settings.history_ttl,
        write_hashes=write_hashes,
    )


EVERY_10_MIN = {"type": "interval", "interval_minutes": 10}
# expiry defaults to min(1800, period) = 600: the occurrence at NOW-600 still covers NOW (deadline == NOW)
TICKER_TIMES = [NOW - 600 + 600 * k for k in range(15 - 1)]  # NOW-600 ... NOW+7200


# --------------------------------------------------------------------------------------------
# The window


@pytest.mark.parametrize("write_hashes", [True, False], ids=["documented", "compact"])
def test_plan_window_creates_exactly_the_schedule_occurrences(app, client, clock, tmp_path, write_hashes):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    register(app, d, plan=False)
    assert queued(client) == []

    report = plan_now(app, write_hashes=write_hashes)

    expected = ids_of("ticker", TICKER_TIMES)
    assert TICKER_TIMES[0] == NOW - 600 and TICKER_TIMES[-1] == NOW + WINDOW
    assert report.created == len(expected) == 14
    assert report.existing == 0 and report.stale == 0 and report.helpers == 1
    assert queued(client) == expected  # ZRANGE order = time order
    for t, execution_id in zip(TICKER_TIMES, expected):
        # a queue entry scored time * 10 + priority, and its hash (the compact layout writes it
        # when the execution is claimed or expires)
        assert client.zscore(keys.EXECUTION_QUEUE, execution_id) == t * 10 + 3
        queued_hash = {
            "executionId": execution_id,
            "helper": "ticker",
            "executionTime": str(t),
            "executionExpiry": "600",
            "priority": "3",
            "status": "queued",
            "createdAt": str(NOW),
        }
        assert client.hgetall(keys.execution_key(execution_id)) == (queued_hash if write_hashes else {})
    # nothing else was written besides the catalog
    hashes = {keys.execution_key(i) for i in expected} if write_hashes else set()
    assert (
        set(client.keys("*"))
        == {
            keys.AVAILABLE_HELPERS,
            keys.CATALOG_VERSION,
            keys.EPOCH,
            keys.EXECUTION_QUEUE,
        }
        | hashes
    )


def test_lookback_takes_past_occurrences_only_while_their_expiry_covers_now(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "late", {"type": "daily", "time": "09:15"})  # deadline 09:45 < 10:00: gone
    add_helper(d, "recent", {"type": "daily", "time": "09:45"})  # deadline 10:15 >= 10:00: planned
    add_helper(d, "edge", {"type": "daily", "time": "12:00"})  # exactly now + window: planned
    add_helper(d, "beyond", {"type": "daily", "time": "12:00:01"})  # one second past the window
    # expiry 2 days, but the lookback is capped by the history TTL (1 day)
    add_helper(d, "sixhourly", {"type": "interval", "interval_minutes": 360, "expiry": 172800})
    register(app, d, plan=False)

    plan_now(app)

    assert queued(client, "late") == []
    assert queued(client, "recent") == [f"recent:{NOW - 900}"]
    assert queued(client, "edge") == [f"edge:{NOW + 7200}"]
    assert queued(client, "beyond") == []
    six = 6 * 3600
    # yesterday 12:00, 18:00, today 00:00, 06:00, 12:00; yesterday 06:00 is older than the history TTL
    assert queued(client, "sixhourly") == ids_of("sixhourly", [NOW - 22 * 3600 + k * six for k in range(5)])
    assert f"sixhourly:{NOW - 28 * 3600}" not in queued(client)


# --------------------------------------------------------------------------------------------
# Idempotence


def test_planning_twice_creates_nothing_the_second_time(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    register(app, d, plan=False)
    first = plan_now(app)
    before = snapshot(client)
    size = client.dbsize()

    second = plan_now(app)

    assert first.created == 14
    assert second.created == 0 and second.existing == 14 and second.stale == 0
    assert client.dbsize() == size
    assert snapshot(client) == before


def many_helpers_file(directory: Path, count: int) -> None:
    body = "from queuectl import BaseHelper\n\n"
    for i in range(count):
        body += (
            f"\nclass H{i}(BaseHelper):\n"
            f"    name = 'm{i:02d}'\n"
            "    def get_schedule_config(self):\n"
            "        return {'type': 'interval', 'interval_seconds': 60}\n"
            "    def run(self):\n"
            "        return None\n"
        )
    write_helper(directory, "many.py", body)


def expected_many(count: int) -> set[str]:
    # interval 60 s, expiry 60: NOW-60 ... NOW+7200
    return {f"m{i:02d}:{t}" for i in range(count) for t in range(NOW - 60, NOW + WINDOW + 1, 60)}


def _plan_in_process(url: str, now: float, parties: int) -> tuple[int, int, int]:
    """Child process: open its own App, wait for the others, plan the whole catalog."""
    app = open_app(Settings.with_defaults(redis_url=url, timezone="UTC"), clock=ManualClock(now))
    gather(app.client, parties, 20, "planners")
    report = plan_catalog(app)
    app.client.close()
    return report.created, report.existing, report.stale


def test_two_planner_processes_at_once_create_no_duplicate(app, client, redis_url, tmp_path):
    count = 50
    d = tmp_path / "helpers"
    many_helpers_file(d, count)
    register(app, d, plan=False)
    expected = expected_many(count)
    assert len(expected) == count * 122

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        futures = [pool.submit(_plan_in_process, redis_url, float(NOW), 2) for _ in range(2)]
        results = [f.result(timeout=60) for f in futures]

    assert sum(created for created, _, _ in results) == len(expected)
    for created, existing, stale in results:
        assert created + existing == len(expected)
        assert stale == 0
    assert set(queued(client)) == expected
    assert client.zcard(keys.EXECUTION_QUEUE) == len(expected)
    assert set(client.keys(keys.EXECUTION_PREFIX + "*")) == {keys.execution_key(i) for i in expected}


def test_planner_threads_each_with_its_own_app_create_no_duplicate(app, client, redis_url, clock, tmp_path):
    count = 20
    d = tmp_path / "helpers"
    many_helpers_file(d, count)
    register(app, d, plan=False)
    expected = expected_many(count)
    barrier = threading.Barrier(4)
    results: list[planner.PlanReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            mine = open_app(Settings.with_defaults(redis_url=redis_url, timezone="UTC"), clock=clock)
            barrier.wait(timeout=10)
            results.append(plan_catalog(mine))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    start_and_join([threading.Thread(target=run) for _ in range(4)], 30)
    assert errors == []
    assert sum(r.created for r in results) == len(expected)
    assert all(r.created + r.existing == len(expected) for r in results)
    assert set(queued(client)) == expected
    assert client.zcard(keys.EXECUTION_QUEUE) == len(expected)


# --------------------------------------------------------------------------------------------
# What is not planned


def test_a_planner_with_a_stale_catalog_revision_creates_nothing(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    add_helper(d, "other", EVERY_10_MIN)
    register(app, d, plan=False)
    stale_records = list(catalog.read_all(client).values())  # what a slow planner read

    change = control.set_enabled(app, "ticker", False)
    assert change.helper.enabled is False

    report = plan_now(app, stale_records)

    assert report.stale == 1  # the ticker group was refused by plan.lua
    assert report.created == 14  # "other" was still current
    assert queued(client, "ticker") == []
    assert client.keys(keys.EXECUTION_PREFIX + "ticker:*") == []
    assert queued(client, "other") == ids_of("other", TICKER_TIMES)


def test_disabled_broken_and_missing_helpers_are_not_planned(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "good", EVERY_10_MIN)
    add_helper(d, "off", {**EVERY_10_MIN, "enabled": False})
    add_helper(d, "bad", {"type": "weekly", "time": "08:00"})
    gone = add_helper(d, "gone", EVERY_10_MIN)
    register(app, d)
    assert len(queued(client, "gone")) == 14
    gone.unlink()
    report = register(app, d)
    assert report.missing == ["gone"]
    assert [name for name, _ in report.broken] == ["bad"]

    records = catalog.read_all(client)
    assert records["off"].status == "ok" and records["off"].enabled is False
    assert records["bad"].status == "broken"
    assert records["gone"].status == "missing"
    assert {i.rpartition(":")[0] for i in queued(client)} == {"good"}
    assert client.keys(keys.EXECUTION_PREFIX + "gone:*") == []

    again = plan_now(app)
    assert again.helpers == 1 and again.created == 0 and again.existing == 14

    # plan.lua refuses them too, even when handed the current revision
    groups = [
        PlanGroup(helper=name, rev=str(records[name].rev), occurrences=[(NOW + 60, 600, 3)])
        for name in ("off", "bad", "gone")
    ]
    assert app.scripts.plan(str(NOW), groups) == (0, 0, 3)
    assert {i.rpartition(":")[0] for i in queued(client)} == {"good"}


def test_plan_lua_refuses_a_helper_absent_from_the_catalog(app, client):
    group = PlanGroup(helper="nobody", rev="1", occurrences=[(NOW, 600, 3)])
    assert app.scripts.plan(str(NOW), [group]) == (0, 0, 1)
    assert client.dbsize() == 0


# --------------------------------------------------------------------------------------------
# Moving time and ordering


def test_planning_after_the_clock_moves_extends_the_window(app, client, clock, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    register(app, d, plan=False)
    plan_now(app)
    before = dict(client.zrange(keys.EXECUTION_QUEUE, 0, -1, withscores=True))

    clock.advance(600)
    report = plan_now(app)

    assert report.created == 1  # NOW+7800, the new tail
    assert report.existing == 13  # NOW ... NOW+7200 (NOW-600 is outside the new lookback)
    ids = queued(client)
    assert ids == ids_of("ticker", TICKER_TIMES) + [f"ticker:{NOW + 7800}"]
    for execution_id, score in before.items():
        if execution_id != f"ticker:{NOW - 600}":  # left the lookback; still queued, untouched
            assert client.zscore(keys.EXECUTION_QUEUE, execution_id) == score
    assert client.zscore(keys.EXECUTION_QUEUE, f"ticker:{NOW + 7800}") == (NOW + 7800) * 10 + 3

    clock.advance(3 * 600 + 30)  # not aligned: now is NOW+2430, the window ends at NOW+9630
    report = plan_now(app)
    assert report.created == 3  # NOW+8400, NOW+9000, NOW+9600
    assert queued(client)[-1] == f"ticker:{NOW + 9600}"


def test_same_second_lower_priority_number_comes_first(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "zz-urgent", {**EVERY_10_MIN, "priority": 1})
    add_helper(d, "aa-lazy", {**EVERY_10_MIN, "priority": 5})
    add_helper(d, "mm-normal", EVERY_10_MIN)
    register(app, d)

    members = client.zrange(keys.EXECUTION_QUEUE, 0, -1, withscores=True)
    assert members[:3] == [
        (f"zz-urgent:{NOW - 600}", (NOW - 600) * 10 + 1),
        (f"mm-normal:{NOW - 600}", (NOW - 600) * 10 + 3),
        (f"aa-lazy:{NOW - 600}", (NOW - 600) * 10 + 5),
    ]
    order = [(int(i.rpartition(":")[2]), int(score) % 10) for i, score in members]
    assert order == sorted(order)
    assert len(members) == 3 * 14


# --------------------------------------------------------------------------------------------
# Revisions are not unique across a catalog reset


# A long-lived App (a dispatcher) must plan the schedule the catalog holds now, even when Redis lost
# the catalog and the entry was re-created (revisions are time-based and the cache keys on content).
def test_a_long_lived_planner_follows_the_schedule_after_the_catalog_was_lost(app, client, tmp_path):
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    register(app, d)  # the dispatcher's App caches (ticker, rev 1) = every 10 min
    add_helper(d, "ticker", {"type": "interval", "interval_minutes": 15})
    register(app, d)  # rev 2 = every 15 min
    assert queued(client) == ids_of("ticker", range(NOW - 900, NOW + WINDOW + 1, 900))

    client.flushdb()  # Redis restarted without persistence: the catalog and the queue are gone
    register(app, d)  # the same process registers the same code again: rev 1, every 15 min

    assert catalog.read_one(client, "ticker").schedule.interval_seconds == 900
    assert queued(client) == ids_of("ticker", range(NOW - 900, NOW + WINDOW + 1, 900))


@pytest.mark.parametrize("write_hashes", [True, False], ids=["documented", "compact"])
def test_a_queued_execution_that_lost_its_queue_entry_is_queued_again(app, client, tmp_path, write_hashes):
    """Planning is also the repair: a queued execution missing from the queue (a stray ZREM)
    would otherwise never run nor expire; the next plan puts it back with its own score: from
    its hash, which says it is queued (in the compact layout a planned one has none and is
    simply planned again)."""
    d = tmp_path / "helpers"
    add_helper(d, "ticker", EVERY_10_MIN)
    register(app, d, plan=False)
    plan_now(app, write_hashes=write_hashes)
    lost = f"ticker:{NOW + 1200}"
    score = client.zscore(keys.EXECUTION_QUEUE, lost)
    client.zrem(keys.EXECUTION_QUEUE, lost)
    released = f"ticker:{NOW + 600}"
    released_score = client.zscore(keys.EXECUTION_QUEUE, released)
    client.zrem(keys.EXECUTION_QUEUE, released)
    client.hset(
        keys.execution_key(released),
        mapping={"status": "queued", "executionTime": str(NOW + 600), "executionExpiry": "600", "priority": "3"},
    )
    client.hset(keys.execution_key(f"ticker:{NOW + 1800}"), "status", "running")  # claimed: not queued
    client.zrem(keys.EXECUTION_QUEUE, f"ticker:{NOW + 1800}")

    report = plan_now(app, write_hashes=write_hashes)

    assert report.created == (0 if write_hashes else 1)  # compact: the planned one, planned again
    assert client.zscore(keys.EXECUTION_QUEUE, lost) == score
    assert client.zscore(keys.EXECUTION_QUEUE, released) == released_score
    assert client.zscore(keys.EXECUTION_QUEUE, f"ticker:{NOW + 1800}") is None
