"""queuectl.resp, the lean client of the read-only commands, against redis-py on a real server:
same URL reading, same values from the read functions, same one-line errors."""
from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, Iterator

import pytest
from redis_server import RedisServer, free_port

from queuectl import keys
from queuectl.connection import ConnectionOptions, connect, connect_lean, guarded
from queuectl.errors import RedisUnavailable
from queuectl.resp import RespClient, RespResponseError, parse_url

PASSWORD = "s3cret-pw"


def both(url: str, timeout: float = 5.0) -> tuple[Any, RespClient]:
    """redis-py's client and the lean one, built the way queuectl builds them."""
    options = ConnectionOptions(url=url, socket_timeout=timeout)
    lean = connect_lean(options)
    assert lean is not None, url
    return connect(options), lean


def outcome(url: str, call: Callable[[Any], Any], client: Any) -> tuple[str, Any]:
    try:
        return "ok", guarded(url, lambda: call(client))
    except RedisUnavailable as exc:
        return "error", str(exc)


# ---------------------------------------------------------------------------------------------
# URLs


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6400/0",
    "redis://127.0.0.1:6400",
    "redis://localhost/3",
    "redis://:pw@127.0.0.1:6400/2",
    "redis://user:p%40ss@127.0.0.1:6400/1",
    "redis://[::1]:6400/0",
    "redis://127.0.0.1:6400/x",
    "redis://",
    "unix:///tmp/some/redis.sock",
    "unix://:pw@/tmp/some/redis.sock",
])
def test_parse_url_reads_urls_as_redis_py(url: str) -> None:
    from redis.connection import parse_url as redis_parse_url

    ours = parse_url(url)
    assert ours is not None
    theirs = redis_parse_url(url)
    if "path" in theirs:
        assert ours.path == theirs["path"]
    else:
        assert (ours.host, ours.port, ours.db) == (theirs.get("host", "localhost"), theirs.get("port", 6379),
                                                   theirs.get("db", 0))
    assert (ours.username, ours.password) == (theirs.get("username"), theirs.get("password"))


@pytest.mark.parametrize("url", [
    "rediss://127.0.0.1:6400/0",                     # TLS
    "redis+sentinel://127.0.0.1:26379/mymaster/0",   # Sentinel
    "redis://127.0.0.1:6400/0?socket_timeout=1",     # URL options
    "redis://127.0.0.1:6400/0#frag",
    "redis://user@127.0.0.1:6400/0",                 # a user without a password
    "redis://127.0.0.1:99999/0",                     # a port redis-py refuses
    "unix://host/tmp/redis.sock",
    "http://127.0.0.1/",
])
def test_parse_url_leaves_the_rest_to_redis_py(url: str) -> None:
    assert parse_url(url) is None
    assert connect_lean(ConnectionOptions(url=url)) is None


# ---------------------------------------------------------------------------------------------
# values


def test_read_methods_return_what_redis_py_returns(client, redis_url: str) -> None:
    client.hset("h", mapping={"a": "1", "b": "é"})
    client.zadd("z", {"x": 10.5, "y": 20, "w": 1e10})
    redis_py, lean = both(redis_url)
    calls: list[Callable[[Any], Any]] = [
        lambda c: c.hgetall("h"), lambda c: c.hgetall("missing"), lambda c: c.hget("h", "b"),
        lambda c: c.hget("h", "nope"), lambda c: c.hvals("h"), lambda c: c.hmget("h", ["a", "zz"]),
        lambda c: c.zcard("z"), lambda c: c.zrange("z", 0, -1), lambda c: c.zrange("z", 0, 0, withscores=True),
        lambda c: c.zrangebyscore("z", 11, "+inf"), lambda c: c.zrevrangebyscore("z", "+inf", 0.5, start=1, num=5),
        lambda c: c.zrangebyscore("z", "-inf", 15.25, withscores=True),
        lambda c: c.config_get("maxmemory-policy"), lambda c: c.info("server")["redis_version"],
        lambda c: c.execute_command("GET", "nothing"),
    ]
    for call in calls:
        assert call(lean) == call(redis_py)
    for pipes in ([redis_py.pipeline(transaction=False), lean.pipeline(transaction=False)],):
        results = []
        for p in pipes:
            p.hgetall("h")
            p.zcard("z")
            p.hgetall("z")  # WRONGTYPE, kept in place
            p.zrange("z", 0, 0, withscores=True)
            results.append(p.execute(raise_on_error=False))
        assert [type(r).__name__ for r in results[1]] == ["dict", "int", "RespResponseError", "list"]
        assert results[0][:2] == results[1][:2] and results[0][3] == results[1][3]
        assert str(results[0][2]) == str(results[1][2])
    lean.close()
    redis_py.close()


def test_info_values_are_typed_like_redis_py(client, redis_url: str) -> None:
    redis_py, lean = both(redis_url)
    ours, theirs = lean.info("server"), redis_py.info("server")
    for key in ("redis_version", "process_id", "tcp_port", "arch_bits", "executable"):
        assert ours.get(key) == theirs.get(key), key
    lean.close()


# ---------------------------------------------------------------------------------------------
# errors: the same one line as redis-py


@pytest.fixture(scope="module")
def locked_server() -> Iterator[RedisServer]:
    server = RedisServer()  # its start-up check needs PING without a password: set one after
    try:
        import redis

        redis.Redis(port=server.port).config_set("requirepass", PASSWORD)
        yield server
    finally:
        server.close()


def _silent_server(close: bool) -> tuple[int, Callable[[], None]]:
    """A TCP server that accepts and then never answers (or closes after reading a request)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            if close:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                except OSError:
                    pass
                conn.close()
            else:
                conns.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def shutdown() -> None:
        stop.set()
        thread.join(2)
        for c in conns:
            c.close()
        listener.close()

    return listener.getsockname()[1], shutdown


def test_errors_read_like_redis_py(redis_server, locked_server, tmp_path) -> None:
    dead = free_port()
    port = locked_server.port
    urls = [
        f"redis://127.0.0.1:{dead}/0",                         # refused
        f"unix://{tmp_path}/absent.sock",                        # no socket file
        f"redis://127.0.0.1:{port}/0",                           # NOAUTH
        f"redis://:wrong@127.0.0.1:{port}/0",                    # WRONGPASS
        f"redis://someone:{PASSWORD}@127.0.0.1:{port}/0",         # unknown user
        f"redis://:{PASSWORD}@127.0.0.1:{port}/0",               # fine
        f"redis://127.0.0.1:{redis_server.port}/99",             # no such database
        f"redis://:anything@127.0.0.1:{redis_server.port}/1",    # a password the server does not need
    ]
    for url in urls:
        redis_py, lean = both(url)
        for call in (lambda c: c.hgetall(keys.AVAILABLE_HELPERS), lambda c: c.zcard(keys.EXECUTION_QUEUE)):
            assert outcome(url, call, lean) == outcome(url, call, redis_py), url
        lean.close()


def test_pipeline_refusal_reads_like_redis_py(client, redis_url: str) -> None:
    from queuectl.status import summary

    client.set(keys.AVAILABLE_HELPERS, "not a hash")
    redis_py, lean = both(redis_url)
    ours = outcome(redis_url, lambda c: summary(c, time.time()), lean)
    assert ours[0] == "error" and "WRONGTYPE" in ours[1]
    assert ours == outcome(redis_url, lambda c: summary(c, time.time()), redis_py)


@pytest.mark.parametrize("close", [False, True], ids=["never-answers", "closes"])
def test_timeouts_and_closed_connections_read_like_redis_py(close: bool) -> None:
    port, shutdown = _silent_server(close)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        redis_py, lean = both(url, timeout=0.3)
        call: Callable[[Any], Any] = lambda c: c.hgetall("x")  # noqa: E731
        started = time.monotonic()
        ours = outcome(url, call, lean)
        assert time.monotonic() - started < 2
        assert ours[0] == "error"
        assert ours == outcome(url, call, redis_py)
    finally:
        shutdown()


def test_a_refused_command_is_a_response_error(client, redis_url: str) -> None:
    client.set("s", "x")
    _, lean = both(redis_url)
    with pytest.raises(RespResponseError, match="WRONGTYPE"):
        lean.hgetall("s")
    assert lean.hgetall("missing") == {}  # the connection is still usable
    lean.close()
