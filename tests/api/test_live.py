"""The live views over HTTP: GET /overview (what `queuectl top` shows) and the history stream
(GET /helpers/executions/history/stream, `history --follow` as server-sent events).

The stream is read from the real `queuectl serve` (a subprocess) with a real `queuectl run`
finishing executions: TestClient reads a whole body before it answers, which a stream never
ends. Its driver (keepalives, an outage) is also run in-process against a Redis that is stopped
and started again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import AUTH

import support
from queuectl.api.live import KEEPALIVE_EVENT, STREAM_PATH, history_events
from queuectl.domain import keys
from queuectl.infra.app import open_app
from queuectl.infra.config import Settings
from queuectl.store.follow import HistoryCursor
from redis_server import RedisServer

# -- reading server-sent events ---------------------------------------------------------------


def parse_events(text: str) -> list[dict]:
    """Complete events of an SSE text: {"comment": ...} or {"event": name, "data": object}."""
    out = []
    for block in text.split("\n\n")[:-1]:  # the last piece is not complete yet
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            out.append({"comment": "\n".join(line[1:].strip() for line in lines)})
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        out.append({"event": fields.get("event", "message"), "data": json.loads(fields["data"])})
    return out


class Stream:
    """One open stream from the real server, read with a deadline (events arrive whole)."""

    def __init__(self, port: int, **params: str) -> None:
        # a read waits at most 20 s: the server sends something every 15 s at the latest
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=httpx.Timeout(10, read=20))
        self.response = self.http.send(self.http.build_request("GET", STREAM_PATH, params=params), stream=True)
        self.chunks = self.response.iter_text()
        self.text = ""

    def events(self) -> list[dict]:
        return parse_events(self.text)

    def data(self) -> list[dict]:
        return [e["data"] for e in self.events() if e.get("event") == "message"]

    def read_until(self, done, timeout: float) -> list[dict]:
        """Read until done(events), or until the timeout has passed when a chunk comes; the
        events read."""
        deadline = time.monotonic() + timeout
        while not done(self.events()) and time.monotonic() < deadline:
            self.text += next(self.chunks)
        return self.events()

    def close(self) -> None:
        self.response.close()
        self.http.close()


@pytest.fixture()
def streams() -> Iterator[list[Stream]]:
    opened: list[Stream] = []
    yield opened
    for stream in opened:
        stream.close()


def zrangebyscore_calls(client) -> int:
    """How many ZRANGEBYSCORE Redis has run (the follower's polls; no dispatcher runs then)."""
    return int(client.info("commandstats").get("cmdstat_zrangebyscore", {}).get("calls", 0))


# -- GET /overview ----------------------------------------------------------------------------


def test_overview_is_what_top_shows(api, core_app, client, seeder, two_helpers):
    support.live_dispatcher(client)
    now = int(time.time())
    # due before the hour that checkIn's expiry keeps planned (the seeder's claim takes what is due)
    done = [seeder.finished("checkIn", now - 5000 + 10 * i, "success", finished_at=now - 50 + i) for i in range(3)]
    failed = seeder.finished("checkIn", now - 4900, "error", finished_at=now - 20, error="RuntimeError: no")
    old = seeder.finished("checkIn", now - 9000, "success", finished_at=now - 3000)
    running = _running(core_app, "checkIn", now - 4500)

    body = api.get("/overview").json()

    assert body["helpers"] == 2
    assert [d["id"] for d in body["dispatchers"]] == ["testhost-1-abcd"]
    assert body["running_total"] == 1
    [row] = body["running"]
    assert row["execution_id"] == running and row["helper"] == "checkIn"
    assert row["started_at"].endswith("+00:00")
    assert now - 4500 - 1 <= time.time() - row["elapsed_seconds"] <= now - 4500 + 1  # counted from its start
    queue = api.get("/helpers/executions/queue", params={"limit": 10}).json()
    assert body["queued_total"] == client.zcard(keys.EXECUTION_QUEUE) >= 1
    assert [d["execution_id"] for d in body["next_due"]] == [q["execution_id"] for q in queue]
    assert [d["execution_time"] for d in body["next_due"]] == [q["execution_time"] for q in queue]
    history = api.get("/helpers/executions/history", params={"limit": 10}).json()
    assert body["outcomes"] == history  # newest first, the objects history shows
    assert [o["execution_id"] for o in body["outcomes"]] == [failed, *reversed(done), old]
    assert body["per_minute"] == 4  # the old one finished 50 min ago
    # the seeder claims each at its due second: lateness 0 for the four first attempts of the last 5 min
    assert (body["lateness_count"], body["lateness_p50_ms"], body["lateness_p99_ms"]) == (4, 0.0, 0.0)
    assert body["lateness_span_seconds"] == 300


def test_overview_of_an_empty_system(api):
    body = api.get("/overview").json()
    assert body["helpers"] == 0 and body["dispatchers"] == [] and body["running"] == []
    assert body["next_due"] == [] and body["outcomes"] == [] and body["per_minute"] == 0
    assert body["lateness_p50_ms"] is None and body["lateness_count"] == 0


def test_live_reads_follow_the_access_rules(make_api):
    public = make_api(host="0.0.0.0")
    for path in ("/overview", STREAM_PATH):
        response = public.get(path)  # refused before any stream starts
        assert response.status_code == 401 and "token" in response.json()["error"], path
    assert public.get("/overview", headers=AUTH).status_code == 200
    assert make_api(token=None, host="0.0.0.0").get(STREAM_PATH).status_code == 403


def test_overview_without_redis_is_a_503(make_api, tmp_path):
    with RedisServer(root=tmp_path) as server:
        core = open_app(Settings.with_defaults(redis_url=server.url, helpers_dir=tmp_path), socket_timeout=0.5)
        server.stop()
        response = make_api(core=core).get("/overview")
    assert response.status_code == 503 and "Redis" in response.json()["error"]


@pytest.mark.parametrize(
    ("params", "code", "named"),
    [
        ({"status": "running"}, 422, "running"),
        ({"status": "queued"}, 422, "queued"),
        ({"helper": "bad name"}, 404, "bad name"),  # a name that cannot be a helper's: 404, as for history
    ],
)
def test_stream_refuses_bad_filters_with_one_line(api, params, code, named):
    response = api.get(STREAM_PATH, params=params)
    assert response.status_code == code
    assert named in response.json()["error"] and "\n" not in response.json()["error"]
    assert response.json() == api.get("/helpers/executions/history", params=params).json()  # the same check


# -- the stream's driver, in-process ---------------------------------------------------------


def _finished(client, execution_id: str, status: str = "success") -> None:
    """A finished execution as the ending scripts leave it (hash and history entry), now."""
    helper, _, seconds = execution_id.rpartition(":")
    now = time.time()
    client.hset(
        keys.execution_key(execution_id),
        mapping={
            "executionId": execution_id,
            "helper": helper,
            "executionTime": seconds,
            "executionExpiry": 60,
            "priority": 3,
            "status": status,
            "startedAt": now - 0.1,
            "finishedAt": now,
            "duration": 0.1,
            "error": "",
        },
    )
    client.zadd(keys.EXECUTION_HISTORY, {execution_id: now})


def test_stream_driver_keepalives_and_an_outage(tmp_path: Path):
    """The generator behind the endpoint: a keepalive once following, an event per execution,
    keepalives while idle (here every 0.5 s), one `error` event per outage and the stream goes
    on, `recovered` when Redis is back, events again."""

    async def main() -> None:
        with RedisServer(root=tmp_path) as server:
            settings = Settings.with_defaults(redis_url=server.url, helpers_dir=tmp_path)
            core = open_app(settings, socket_timeout=0.5)
            events = history_events(core, HistoryCursor(), keepalive=0.5, interval=0.1)

            async def chunk() -> bytes:
                return await asyncio.wait_for(events.__anext__(), 5)

            async def event() -> bytes:
                """The next chunk that is not a keepalive."""
                while (got := await chunk()) == KEEPALIVE_EVENT:
                    pass
                return got

            def only(raw: bytes) -> dict:
                [parsed] = parse_events(raw.decode())
                return parsed

            assert await chunk() == KEEPALIVE_EVENT  # following (from the end of history)
            _finished(core.client, "pulse:1")
            assert only(await chunk())["data"]["execution_id"] == "pulse:1"
            began = time.monotonic()
            assert await chunk() == KEEPALIVE_EVENT
            assert 0.35 <= time.monotonic() - began <= 1.0

            server.stop()
            error = only(await chunk())
            assert error["event"] == "error" and str(server.port) in error["data"]["error"]
            assert [await chunk() for _ in range(3)] == [KEEPALIVE_EVENT] * 3  # one error per outage
            server.start()
            assert only(await event()) == {"event": "recovered", "data": {}}
            _finished(core.client, "pulse:2", "error")
            row = only(await event())["data"]
            assert (row["execution_id"], row["status"]) == ("pulse:2", "error")
            await events.aclose()
            core.client.close()

    asyncio.run(main())


# -- the real server ------------------------------------------------------------------------


def test_stream_shows_real_finishes_as_they_happen(served, streams, make_helper, redis_url, helpers_dir, tmp_path):
    port, _ = served
    make_helper("pulse", {"type": "interval", "interval_seconds": 1})
    make_helper("boom", {"type": "interval", "interval_seconds": 1, "retries": 0}, body="raise ValueError('x')")
    everything = Stream(port)
    streams.append(everything)
    errors = Stream(port, helper="boom", status="error")
    streams.append(errors)
    assert everything.response.status_code == 200
    assert everything.response.headers["content-type"].startswith("text/event-stream")
    assert everything.response.headers["cache-control"] == "no-cache"
    # both are following (the keepalive comes once the follower has started) before anything runs
    assert everything.read_until(lambda ev: ev, 5)[0] == {"comment": "keepalive"}
    assert errors.read_until(lambda ev: ev, 5)[0] == {"comment": "keepalive"}

    env = support.queuectl_env(redis_url, helpers_dir, tmp_path)
    dispatcher = support.QueuectlProcess(["run", "--tick", "0.2"], env, tmp_path, tmp_path / "run.out")
    try:
        everything.read_until(lambda ev: len([e for e in ev if "data" in e]) >= 6, 20)
        errors.read_until(lambda ev: len([e for e in ev if "data" in e]) >= 2, 10)
    finally:
        dispatcher.close()
    rows = everything.data()
    assert len(rows) >= 6, (everything.text, (tmp_path / "run.out").read_text())
    assert {r["helper"] for r in rows} >= {"pulse", "boom"}
    seen = [r["execution_id"] for r in rows]
    assert len(seen) == len(set(seen))  # each once
    finished = [r["finished_at"] for r in rows]
    assert finished == sorted(finished)  # as they finished
    listed = httpx.get(f"http://127.0.0.1:{port}/helpers/executions/history", params={"limit": 1000}, timeout=10)
    history = {h["execution_id"]: h for h in listed.json()}
    for row in rows:
        assert row == history[row["execution_id"]]  # the object GET .../history (and history --json) shows
    picked = errors.data()
    assert len(picked) >= 2 and {(r["helper"], r["status"]) for r in picked} == {("boom", "error")}
    assert all("ValueError" in r["error"] for r in picked)


def test_closed_streams_stop_polling_and_an_open_one_polls_once_a_second(served, streams, client):
    port, _ = served
    for _ in range(5):  # open, see it follow, leave
        stream = Stream(port)
        assert stream.read_until(lambda ev: ev, 5) == [{"comment": "keepalive"}]
        stream.close()
    time.sleep(1.5)  # a stream whose client left ends at its next wait (at most one interval)
    before = zrangebyscore_calls(client)
    time.sleep(3)
    assert zrangebyscore_calls(client) == before  # nothing is left polling history

    stream = Stream(port)
    streams.append(stream)
    stream.read_until(lambda ev: ev, 5)
    before = zrangebyscore_calls(client)
    time.sleep(4)
    polls = zrangebyscore_calls(client) - before
    assert 3 <= polls <= 5, polls
    response = httpx.get(f"http://127.0.0.1:{port}/overview", timeout=5)  # the server still answers
    assert response.status_code == 200


def test_serve_stops_promptly_with_a_stream_open(served, streams):
    port, proc = served
    stream = Stream(port)
    streams.append(stream)
    stream.read_until(lambda ev: ev, 5)
    proc.signal(signal.SIGTERM)
    began = time.monotonic()
    proc.wait(timeout=10)
    # the stream ends at its next wait rather than holding the shutdown for its 5-s grace
    assert time.monotonic() - began < 3


def _running(core_app, helper: str, execution_time: int) -> str:
    """Plan one occurrence and claim it as a dispatcher does: a running execution."""
    from queuectl.domain.models import format_time
    from queuectl.store.catalog import read_one
    from queuectl.store.planner import keep_seconds
    from queuectl.store.scripts import ClaimRequest, PlanGroup

    rev = str(read_one(core_app.client, helper).rev)
    scripts = core_app.scripts
    created, _, _ = scripts.plan(
        format_time(execution_time), [PlanGroup(helper=helper, rev=rev, occurrences=[(execution_time, 0, 2)])]
    )
    assert created == 1
    result = scripts.claim(
        ClaimRequest(
            now=format_time(execution_time),
            limit=1,
            owner="testhost-1-abcd",
            lease_until=format_time(time.time() + 60),
            token_prefix="t",
            scan=1000,
            keep=keep_seconds(86400),
        )
    )
    [claimed] = result.claimed
    return claimed.execution_id


def test_stream_route_is_not_taken_for_an_execution_id(make_api):
    api = make_api()
    api.app.state.stopping = lambda: True  # ends as when the server stops: the body can be read whole
    response = api.get(STREAM_PATH, params={"helper": "checkIn", "status": "error"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.text == ""  # it ended before following
    assert api.get("/helpers/executions/checkIn:1").status_code == 404  # the id route is still the id route
