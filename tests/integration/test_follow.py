"""store/follow.py against a real Redis: a follower sees each finished execution exactly once,
equal scores and slightly late writes included, honours its filters, asks Redis at most once
per interval, and rides out an outage."""

from __future__ import annotations

from pathlib import Path

import pytest

from queuectl.domain import keys
from queuectl.domain.clock import ManualClock
from queuectl.infra.app import open_app
from queuectl.infra.config import Settings
from queuectl.store.follow import LOOKBACK, HistoryCursor, Outage, follow
from redis_server import RedisServer
from support import NOW


def finished(client, execution_id: str, score: float, status: str = "success") -> None:
    """A finished execution as the ending scripts leave it: its hash and its history entry."""
    helper, _, seconds = execution_id.partition("#")[0].rpartition(":")
    client.hset(
        keys.execution_key(execution_id),
        mapping={
            "executionId": execution_id,
            "helper": helper,
            "executionTime": seconds,
            "executionExpiry": 60,
            "priority": 3,
            "status": status,
            "startedAt": score - 0.5,
            "finishedAt": score,
            "duration": 0.5,
            "error": "" if status == "success" else "RuntimeError: no",
        },
    )
    client.zadd(keys.EXECUTION_HISTORY, {execution_id: score})


def ids(rows) -> list[str]:
    return [e.execution_id for e in rows]


def test_starts_at_the_end_and_sees_each_new_one_once(app, client) -> None:
    finished(client, "old:1", NOW - 3600)
    finished(client, "recent:2", NOW - 1)  # inside the margin, but before the start: not shown
    cursor = HistoryCursor()
    cursor.start(app)
    assert cursor.poll(app) == []
    finished(client, "a:10", NOW + 0.25)
    finished(client, "b:11", NOW + 0.5)
    assert ids(cursor.poll(app)) == ["a:10", "b:11"]  # oldest first
    assert cursor.poll(app) == []
    app.clock.advance(1)
    finished(client, "c:12", NOW + 1.0)
    assert ids(cursor.poll(app)) == ["c:12"]


def test_equal_scores_and_a_late_lower_score_are_not_missed(app, client) -> None:
    cursor = HistoryCursor()
    cursor.start(app)
    finished(client, "x:1", NOW + 2.0)
    app.clock.advance(3)
    assert ids(cursor.poll(app)) == ["x:1"]
    finished(client, "y:1", NOW + 2.0)  # the same score, written after the read
    assert ids(cursor.poll(app)) == ["y:1"]
    finished(client, "z:1", NOW + 2.0 - LOOKBACK / 2)  # a peer's `now` a little behind
    assert ids(cursor.poll(app)) == ["z:1"]
    finished(client, "w:1", NOW + 2.0 - LOOKBACK - 1)  # beyond the margin: the documented limit
    assert cursor.poll(app) == []


def test_filters_by_helper_and_status(app, client) -> None:
    cursor = HistoryCursor(helper="mine", status="error")
    cursor.start(app)
    finished(client, "mine:1", NOW + 0.1, "error")
    finished(client, "mine:2", NOW + 0.2, "success")
    finished(client, "mine.too:1", NOW + 0.3, "error")
    finished(client, "other:1", NOW + 0.4, "error")
    finished(client, "mine:3#1", NOW + 0.5, "error")  # a failed attempt, kept under <id>#<n>
    assert ids(cursor.poll(app)) == ["mine:1", "mine:3#1"]


def test_pages_past_a_big_margin(app, client, monkeypatch: pytest.MonkeyPatch) -> None:
    import queuectl.store.follow as follow_module

    monkeypatch.setattr(follow_module, "PAGE", 3)
    cursor = HistoryCursor()
    cursor.start(app)
    for n in range(7):
        finished(client, f"burst:{n}", NOW + 0.01 * (n + 1))
    polls = [ids(cursor.poll(app)) for _ in range(4)]
    assert [len(p) for p in polls] == [3, 3, 1, 0]  # a page of new ones per poll, past the seen ones
    assert sum(polls, []) == [f"burst:{n}" for n in range(7)]


class Ticks:
    """A fake monotonic clock that sleep() advances, the sleeps it saw, and an optional hook
    called with the number of each sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep = lambda n: None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.sleeps))


def test_polls_at_most_once_an_interval(app, client, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = Ticks()
    polls: list[float] = []
    real_poll = HistoryCursor.poll

    def slow_poll(self, app_):
        polls.append(ticks.now)
        ticks.now += 0.3  # a poll that takes 300 ms: the loop sleeps only the rest
        return real_poll(self, app_)

    monkeypatch.setattr(HistoryCursor, "poll", slow_poll)
    cursor = HistoryCursor()
    cursor.start(app)
    stream = follow(app, cursor, sleep=ticks.sleep, monotonic=ticks.monotonic, interval=1.0)
    finished(client, "later:1", NOW + 0.5)
    assert ids(next(stream)) == ["later:1"]
    for _ in range(5):
        finished(client, f"more:{len(polls)}", NOW + 0.6 + len(polls) * 0.01)
        next(stream)
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    assert gaps and all(gap == pytest.approx(1.0) for gap in gaps), gaps
    assert all(s == pytest.approx(0.7) for s in ticks.sleeps), ticks.sleeps


def test_outage_is_reported_once_and_the_follower_picks_up(tmp_path: Path) -> None:
    with RedisServer(root=tmp_path) as server:
        settings = Settings.with_defaults(redis_url=server.url, helpers_dir=Path("helpers"), timezone="UTC")
        app = open_app(settings, clock=ManualClock(float(NOW)), socket_timeout=1.0)
        ticks = Ticks()
        cursor = HistoryCursor()
        cursor.start(app)
        stream = follow(app, cursor, sleep=ticks.sleep, monotonic=ticks.monotonic)
        finished(app.client, "before:1", NOW + 0.1)
        assert ids(next(stream)) == ["before:1"]
        server.stop()
        event = next(stream)
        assert isinstance(event, Outage) and event.error and "Redis" in event.error
        down_from = len(ticks.sleeps)
        ticks.on_sleep = lambda n: server.start() if n == down_from + 4 else None
        back = next(stream)
        # four more polls failed before the server came back, and none of them said so again
        assert back == Outage(None), back
        assert len(ticks.sleeps) == down_from + 4
        finished(app.client, "after:1", NOW + 0.2)
        assert ids(next(stream)) == ["after:1"]
