"""store/overview.gather against a real Redis (what `queuectl top` shows), and the frame it is
drawn in: every figure from the keys the dispatchers write, in two round trips, on 80x24."""

from __future__ import annotations

import time

import pytest

from queuectl.cli.top_view import frame
from queuectl.domain import keys
from queuectl.store.overview import gather, percentile
from support import live_dispatcher


def finished(client, execution_id: str, *, at: float, late: float | None, attempt: int = 1, status="success") -> None:
    helper, _, seconds = execution_id.partition("#")[0].rpartition(":")
    fields = {
        "executionId": execution_id,
        "helper": helper,
        "executionTime": seconds,
        "priority": 3,
        "status": status,
        "finishedAt": at,
        "attempt": attempt,
        "error": "",
    }
    if late is not None:
        fields.update({"startedAt": int(seconds) + late, "duration": 0.01})
    client.hset(keys.execution_key(execution_id), mapping=fields)
    client.zadd(keys.EXECUTION_HISTORY, {execution_id: at})


def running(client, execution_id: str, *, started: float, dispatcher: str) -> None:
    helper = execution_id.rpartition(":")[0]
    client.hset(
        keys.execution_key(execution_id),
        mapping={"helper": helper, "status": "running", "startedAt": started, "dispatcher": dispatcher},
    )
    client.zadd(keys.RUNNING, {execution_id: started + 30})


@pytest.fixture()
def busy(client):
    """A system with two dispatchers, three running, 25 queued and 100 recent outcomes."""
    now = time.time()
    live_dispatcher(client, "host-1-aaaa")
    live_dispatcher(client, "host-2-bbbb")
    client.hset(keys.AVAILABLE_HELPERS, mapping={f"h{n}": "{}" for n in range(4)})
    for n, started in enumerate((now - 5, now - 65, now - 1)):
        running(client, f"run{n}:{int(started)}", started=started, dispatcher="host-1-aaaa")
    base = int(now) + 60
    client.zadd(keys.EXECUTION_QUEUE, {f"q{n}:{base + n}": (base + n) * 10 + (n % 5) + 1 for n in range(25)})
    second = int(now) - 200
    for k in range(1, 101):  # lateness 1..100 ms, finished over the last 100 s
        finished(client, f"ok{k}:{second + k}", at=now - 100.5 + k, late=k / 1000)
    finished(client, f"retry:{second}", at=now - 2, late=30.0, attempt=2)  # a retry: late on purpose
    finished(client, f"gone:{second}", at=now - 3, late=None, status="expired")  # never started
    finished(client, f"old:{second - 600}", at=now - 400, late=9.0)  # before the 5 minutes
    manual = f"byhand:manual-{second * 1000 + 900}-abcd"  # asked at .9 s: due at the whole second
    client.hset(keys.execution_key(manual), mapping={"executionTime": second, "startedAt": second + 0.9, "attempt": 1})
    client.zadd(keys.EXECUTION_HISTORY, {manual: now - 4})
    return now


def test_gather_reads_every_figure(client, busy) -> None:
    o = gather(client, busy)
    assert o.helpers == 4
    assert [d["id"] for d in o.dispatchers] == ["host-1-aaaa", "host-2-bbbb"]
    assert o.dispatchers[0]["concurrency"] == 4
    assert o.running_total == 3
    assert [r.helper for r in o.running] == ["run1", "run0", "run2"]  # longest running first
    assert o.running[0].dispatcher == "host-1-aaaa"
    assert o.queued_total == 25
    assert [d.helper for d in o.next_due] == [f"q{n}" for n in range(10)]
    assert o.next_due[3].priority == 4 and o.next_due[3].execution_time == int(busy) + 63
    assert len(o.outcomes) == 10
    assert o.outcomes[0].execution_id == "ok100:" + str(int(busy) - 100)  # newest first
    assert o.per_minute == 60 + 3  # ok41..ok100, the retry, the expired and the manual one: the last 60 s
    assert o.lateness_count == 100
    assert o.lateness_p50_ms == pytest.approx(50.0, abs=0.01)
    assert o.lateness_p99_ms == pytest.approx(99.0, abs=0.01)


def test_gather_on_an_empty_database(client) -> None:
    o = gather(client, time.time())
    assert (o.dispatchers, o.running, o.next_due, o.outcomes) == ([], [], [], [])
    assert (o.running_total, o.queued_total, o.per_minute, o.lateness_count) == (0, 0, 0, 0)
    assert o.lateness_p50_ms is None and o.lateness_p99_ms is None


class OnlyPipelines:
    """A client that allows pipelines only, and counts them."""

    def __init__(self, client) -> None:
        self.client = client
        self.pipelines = 0

    def pipeline(self, **options):
        self.pipelines += 1
        return self.client.pipeline(**options)


def test_gather_takes_two_round_trips(client, busy) -> None:
    counted = OnlyPipelines(client)
    gather(counted, busy)  # type: ignore[arg-type]
    assert counted.pipelines == 2


@pytest.mark.parametrize(("values", "p50", "p99"), [([], None, None), ([7.0], 7.0, 7.0), ([1.0, 2.0], 1.0, 2.0)])
def test_percentile_nearest_rank(values, p50, p99) -> None:
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (p50, p99)


def render(renderable, width: int = 80, height: int = 24) -> list[str]:
    import io

    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, height=height, color_system=None, force_terminal=False)
    console.print(renderable)
    return out.getvalue().rstrip("\n").split("\n")


def test_frame_fits_80x24_when_busy(client, busy) -> None:
    for n in range(40):  # far more running than the screen holds, with long names
        running(client, f"a-very-long-helper-name-that-goes-on-{n}:{int(busy)}", started=busy - n, dispatcher="x" * 40)
    for n in range(5):
        live_dispatcher(client, f"host-{n}-with-a-long-dispatcher-id-cccc")
    o = gather(client, busy)
    lines = render(frame(o, now=busy, url="redis://127.0.0.1:1/0", away_since=None))
    assert len(lines) <= 24, "\n".join(lines)
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    text = "\n".join(lines)
    for part in ("queuectl top", "q quits", "DISPATCHER", "RUNNING", "NEXT DUE", "LAST OUTCOMES", "more running"):
        assert part in text, (part, text)
    assert "done 63/min  lateness p50 50.0ms p99 99.0ms (n=100)" in text
    assert "more dispatchers" in text
    assert "unreachable" not in text


def test_frame_says_since_when_redis_is_unreachable(client, busy) -> None:
    from datetime import datetime

    o = gather(client, busy)
    lines = render(frame(o, now=busy + 30, url="redis://127.0.0.1:1/0", away_since=busy + 10))
    since = datetime.fromtimestamp(busy + 10).strftime("%H:%M:%S")
    assert any(f"Redis unreachable since {since}" in line for line in lines), lines
    assert "LAST OUTCOMES" in "\n".join(lines)  # the last data read stays up
    first = render(frame(None, now=busy, url="redis://x", away_since=busy))
    assert any("Redis unreachable since" in line for line in first)
