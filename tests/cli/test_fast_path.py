"""The lean front (cli/fast.py): the read-only commands give byte-for-byte the output and exit code
of the Typer path, without importing typer, click, rich or redis-py; everything else falls back.

Each command runs as a real process twice: as is, and with QUEUECTL_FAST_PATH=0 (the Typer path).
The runner records the modules loaded at exit, so a silent fallback cannot pass for the fast path.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from redis_server import RedisServer, free_port

from queuectl.cli.fast import Decline, parse

RUNNER = """
import atexit, os, sys

def _modules():
    with open(os.environ["QUEUECTL_TEST_MODULES"], "w") as f:
        f.write("\\n".join(sorted(sys.modules)))

atexit.register(_modules)
sys.argv = ["queuectl", *sys.argv[1:]]
from queuectl.cli import main
main()
"""
#: what the fast path must never load (croniter and dateutil only for a cron schedule's next run)
HEAVY = ("typer", "click", "rich", "redis")


@dataclass
class Ran:
    code: int
    out: bytes
    err: bytes
    modules: frozenset[str]

    def loaded(self, *packages: str) -> set[str]:
        return {m for m in self.modules for p in packages if m == p or m.startswith(p + ".")}

    @property
    def heavy(self) -> set[str]:
        return self.loaded(*HEAVY)

    def same_as(self, other: "Ran") -> tuple[Any, ...]:
        return (self.code, _stable(self.out), self.err) == (other.code, _stable(other.out), other.err)


def _stable(out: bytes) -> bytes:
    """`status` prints the time it ran, tables print relative times ("in 9 min", "12 s ago"):
    the byte ranges two runs cannot share."""
    out = re.sub(rb'"timestamp": "[^"]*"', b'"timestamp": "T"', out)
    return out if out.lstrip().startswith((b"{", b"[")) else re.sub(rb"\d+", b"0", out)


def run(args: list[str], env: dict[str, str], tmp_path: Path, *, fast: bool = True) -> Ran:
    modules = tmp_path / f"modules-{time.monotonic_ns()}.txt"
    env = {**env, "QUEUECTL_TEST_MODULES": str(modules), "QUEUECTL_FAST_PATH": "1" if fast else "0"}
    p = subprocess.run([sys.executable, "-c", RUNNER, *args], env=env, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return Ran(p.returncode, p.stdout, p.stderr, frozenset(modules.read_text().split()))


def both(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[Ran, Ran]:
    """(fast, typer); asserts they agree and that the fast run imported nothing heavy. Tried twice:
    a next run can move on between the two processes (pulse every 10 min), but not twice."""
    for _ in range(2):
        fast, slow = run(args, env, tmp_path), run(args, env, tmp_path, fast=False)
        if fast.same_as(slow):
            break
    assert "typer" in slow.modules
    assert fast.same_as(slow), (args, fast, slow)
    heavy = fast.heavy - (fast.loaded("rich") if "--json" not in args else set())  # tables need rich
    assert not heavy, (args, sorted(heavy))
    return fast, slow


@pytest.fixture()
def env(cli, redis_url: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": redis_url, "QUEUECTL_HELPERS_DIR": str(cli.helpers_dir)}


@pytest.fixture()
def populated(cli, make_helper, register, seeder, core_app, client) -> Any:
    """Helpers of every kind (one disabled, one broken), a queue, history of each outcome, and a
    live dispatcher."""
    from queuectl.control import set_enabled

    make_helper("pulse", {"type": "interval", "interval_seconds": 600})
    make_helper("morning", {"type": "daily", "time": "03:00", "priority": 1})
    make_helper("weekly", {"type": "cron", "cron": "0 4 * * 1", "timezone": "Europe/Berlin"})
    make_helper("sleepy", {"type": "interval", "interval_seconds": 86400, "expiry": 60})
    register()
    set_enabled(core_app, "sleepy", False)
    client.hset("internalAvailableHelpers", "mangled", "{not json")
    now = time.time()
    base = int(now) - 6 * 3600
    seeder.finished("pulse", base, "success", finished_at=now - 3 * 3600)
    seeder.finished("pulse", base + 10, "error", finished_at=now - 60, error="ValueError: bööm\nline 2",
                    reason="raised")
    seeder.finished("morning", base + 20, "expired", finished_at=now - 30)
    return cli


def _dispatcher(client: Any) -> None:
    now = time.time()
    client.zadd("internalDispatchers", {"testhost-1-abcd": now + 60})
    client.hset("internalDispatcher:testhost-1-abcd", mapping={
        "id": "testhost-1-abcd", "host": "testhost", "pid": 1, "startedAt": now - 5, "beat": now,
        "running": 0, "concurrency": 4})


# ---------------------------------------------------------------------------------------------
# the same bytes as the Typer path

SHAPES = [
    ["helpers", "list", "--json"],
    ["helpers", "list"],
    ["queue", "show"],
    ["queue", "show", "--limit", "3", "--helper", "pulse"],
    ["history"],
    ["history", "--status", "error"],
    ["status"],
    ["status", "--json"],
    ["status", "--check"],
    ["status", "--json", "--check"],
    ["queue", "show", "--json"],
    ["queue", "show", "--limit", "3", "--json"],
    ["queue", "show", "-n", "2", "--json", "--json"],
    ["queue", "show", "--json", "-n2", "--helper", "pulse"],
    ["queue", "show", "--limit=5", "--helper=weekly", "--json"],
    ["queue", "show", "--helper", "nosuch", "--json"],
    ["queue", "show", "--helper", "bad name!", "--json"],
    ["history", "--json"],
    ["history", "--json", "--limit", "1"],
    ["history", "--status", "error", "--json"],
    ["history", "--helper", "pulse", "--since", "2h", "--json"],
    ["history", "--since", "1h30m", "--status", "expired", "-n", "5", "--json"],
    ["history", "--status", "bogus", "--json"],
    ["history", "--since", "5x", "--json"],
    ["history", "--helper", "a/b", "--json"],
    ["-v", "--debug", "status", "--json"],
    ["--helpers-dir", "/nonexistent", "helpers", "list", "--json"],
]


@pytest.mark.parametrize("args", SHAPES, ids=[" ".join(a) for a in SHAPES])
def test_fast_path_matches_typer_path(populated, env, tmp_path, args) -> None:
    fast, _ = both(args, env, tmp_path)
    if args[-1] == "--check" or args[-2:] == ["--json", "--check"]:
        assert fast.code == 3
    if "bogus" in args or "5x" in args or "bad name!" in args or "a/b" in args:
        assert fast.code == 2 and fast.err.startswith(b"Error: ") and fast.out == b""


def test_fast_path_with_a_live_dispatcher(populated, env, client, tmp_path) -> None:
    _dispatcher(client)
    for args in (["status"], ["status", "--check"], ["status", "--json", "--check"]):
        fast, _ = both(args, env, tmp_path)
        assert fast.code == 0
        assert b"testhost-1-abcd" in fast.out


def test_json_is_the_documented_data(populated, env, tmp_path) -> None:
    fast, _ = both(["helpers", "list", "--json"], env, tmp_path)
    rows = {r["name"]: r for r in json.loads(fast.out)}
    assert set(rows) == {"pulse", "morning", "weekly", "sleepy", "mangled"}
    assert rows["sleepy"]["enabled"] is False and rows["mangled"]["status"] == "broken"
    assert rows["weekly"]["next_run"] is not None  # the cron schedule was evaluated
    assert "croniter" in fast.modules  # ... which is the one thing that needs croniter
    status, _ = both(["status", "--json"], env, tmp_path)
    assert not status.loaded("croniter", "dateutil")
    assert json.loads(status.out)["broken_helpers"] == 1 and b"Warning: Redis has no persistence" in status.err
    history, _ = both(["history", "--json"], env, tmp_path)
    assert [r["status"] for r in json.loads(history.out)] == ["expired", "error", "success"]
    queued, _ = both(["queue", "show", "--json"], env, tmp_path)
    assert len(json.loads(queued.out)) >= 12  # a 2-hour window of pulse, every 10 min


def test_redis_url_flag_wins_over_env(populated, env, redis_url, tmp_path) -> None:
    dead = {**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    for args in (["--redis-url", redis_url, "status", "--json"], [f"--redis-url={redis_url}", "history", "--json"]):
        fast, _ = both(args, dead, tmp_path)
        assert fast.code == 0


def test_settings_file_and_bad_settings(populated, env, redis_url, tmp_path) -> None:
    (Path.cwd() / "queuectl.toml").write_text(f'redis_url = "{redis_url}"\nlease = 3\n')
    no_env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    fast, _ = both(["helpers", "list", "--json"], no_env, tmp_path)
    assert fast.code == 0 and json.loads(fast.out)
    fast, _ = both(["status", "--json"], {**env, "QUEUECTL_LEASE": "soon"}, tmp_path)
    assert fast.code == 2 and b"QUEUECTL_LEASE" in fast.err
    fast, _ = both(["queue", "show", "--json"], {**env, "QUEUECTL_TIMEZONE": "Mars/Olympus"}, tmp_path)
    assert fast.code == 2 and b"Mars/Olympus" in fast.err


# ---------------------------------------------------------------------------------------------
# Redis unreachable or refusing: the same one line


@pytest.fixture(scope="module")
def locked_server() -> Iterator[RedisServer]:
    server = RedisServer()  # its start-up check needs PING without a password: set one after
    try:
        import redis

        redis.Redis(port=server.port).config_set("requirepass", "pw")
        yield server
    finally:
        server.close()


READS = [["helpers", "list", "--json"], ["status", "--json"], ["status"], ["queue", "show", "--json"],
         ["history", "--json", "--since", "2h"]]


@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
def test_unreachable_redis_same_error(cli, env, tmp_path, locked_server, args) -> None:
    urls = [f"redis://:s3cret@127.0.0.1:{free_port()}/0", f"unix://{tmp_path}/absent.sock",
            f"redis://127.0.0.1:{locked_server.port}/0", f"redis://:wrong@127.0.0.1:{locked_server.port}/0"]
    for url in urls:
        fast, _ = both(args, {**env, "REDIS_URL": url}, tmp_path)
        assert fast.code == 1 and fast.out == b""
        assert fast.err.count(b"\n") == 1 and fast.err.startswith(b"Error: "), fast.err
        assert b"s3cret" not in fast.err


def test_password_protected_redis(cli, env, tmp_path, locked_server) -> None:
    url = f"redis://:pw@127.0.0.1:{locked_server.port}/0"
    fast, _ = both(["status", "--json"], {**env, "REDIS_URL": url}, tmp_path)
    assert fast.code == 0 and json.loads(fast.out)["backend"]["url"] == f"redis://:***@127.0.0.1:{locked_server.port}/0"


def test_refused_command_same_error(cli, env, client, tmp_path) -> None:
    client.set("internalAvailableHelpers", "a string, not a hash")
    for args in (["status", "--json"], ["helpers", "list", "--json"]):
        fast, _ = both(args, env, tmp_path)
        assert fast.code == 1 and b"WRONGTYPE" in fast.err


# ---------------------------------------------------------------------------------------------
# everything else is the Typer path's


FALLBACKS = [
    ["queue", "show", "--limit", "0", "--json"],  # click's range check
    ["queue", "show", "--limit", "x", "--json"],
    ["history", "--json", "--bogus"],
    ["status", "--help"],
    ["--version"],
    ["helpers", "show", "pulse", "--json"],
    ["--redis-url", "rediss://127.0.0.1:1/0", "status", "--json"],
    [],
]


@pytest.mark.parametrize("args", FALLBACKS, ids=[" ".join(a) or "(none)" for a in FALLBACKS])
def test_fallbacks_run_the_typer_path(populated, env, tmp_path, args) -> None:
    fast, slow = run(args, env, tmp_path), run(args, env, tmp_path, fast=False)
    assert "typer" in fast.modules
    assert (fast.code, fast.err) == (slow.code, slow.err)
    if "--json" in args:
        assert fast.out == slow.out
    else:  # tables show relative times ("12 s ago"), which two runs may not share
        assert bool(fast.out) == bool(slow.out)


def test_stopped_embedded_server_is_left_to_the_typer_path(tmp_path, monkeypatch) -> None:
    from queuectl.app import open_lean_app
    from queuectl.config import resolve

    monkeypatch.setenv("QUEUECTL_HOME", str(tmp_path / "qh"))
    assert open_lean_app(resolve({})) is None
    assert not (tmp_path / "qh").exists()  # nothing was started or created


@pytest.mark.e2e
def test_running_embedded_server_uses_the_fast_path(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(QUEUECTL_HOME=str(tmp_path / "qh"), QUEUECTL_EMBEDDED_IDLE="30")
    start = subprocess.run([sys.executable, "-m", "queuectl", "server", "start"], env=env, capture_output=True,
                           timeout=60)
    try:
        assert start.returncode == 0, start.stderr
        fast, _ = both(["status", "--json"], env, tmp_path)
        assert json.loads(fast.out)["backend"]["kind"] == "embedded"
    finally:
        subprocess.run([sys.executable, "-m", "queuectl", "server", "stop"], env=env, capture_output=True,
                       timeout=60)


# ---------------------------------------------------------------------------------------------
# argv recognition (no process)


@pytest.mark.parametrize("argv", [
    ["helpers", "list", "--json"], ["helpers", "list"], ["status"], ["status", "--check", "--json"],
    ["queue", "show", "--json"], ["queue", "show"], ["history"],
    ["queue", "show", "-n7", "--json"], ["history", "--json", "--since", "2h", "--limit=3"],
    ["--redis-url", "redis://h/0", "-vv", "--insecure-tls", "status"], ["--helpers-dir=/x", "history", "--json"],
])
def test_recognised(argv: list[str]) -> None:
    flags, command = parse(argv)
    assert callable(command)
    if "--insecure-tls" in argv:
        assert flags == {"redis_url": "redis://h/0", "insecure_tls": True}


@pytest.mark.parametrize("argv", [
    [], ["--redis-url"], ["--redis-url", "--json", "status"], ["--redis-url=", "status"], ["status", "x"],
    ["status", "--json=1"], ["status", "-h"], ["helpers"], ["helpers", "list", "-j"],
    ["queue", "show", "--limit", "-1", "--json"], ["queue", "show", "--limit", "100001", "--json"],
    ["queue", "show", "-n", "+5", "--json"], ["queue", "show", "--limit", "٣", "--json"],
    ["queue", "show", "--helper", "--json"], ["history", "--json", "--"], ["status", "--redis-url", "x"],
    ["-x", "status"], ["--debug=1", "status"], ["--version"], ["--install-completion"], ["config", "--json"],
])
def test_declined(argv: list[str]) -> None:
    with pytest.raises(Decline):
        parse(argv)
