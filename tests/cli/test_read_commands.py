"""The read-only commands as real processes: the one Typer front on redis-py, the documented data,
one stderr line when Redis is unreachable or refuses, and no import of what they do not need.

Each command runs as `queuectl ARGS` in a child Python; the runner records the modules loaded at
exit, so a command that starts pulling in rich, the dispatcher or a web stack fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from redis_server import RedisServer, free_port
from support import live_dispatcher

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
#: what no read command with --json may load: tables need rich, `run` needs the runtime, and a
#: Typer that validates options through pydantic would cost every command ~150 ms (pyproject.toml);
#: the schedule library (and its pytz) is for reading legacy helpers, in discovery only
NEVER_FOR_JSON = ("rich", "queuectl.runtime", "pydantic", "fastapi", "uvicorn", "starlette", "schedule", "pytz")


@dataclass
class Ran:
    code: int
    out: bytes
    err: bytes
    modules: frozenset[str]

    def loaded(self, *packages: str) -> set[str]:
        return {m for m in self.modules for p in packages if m == p or m.startswith(p + ".")}


def run(args: list[str], env: dict[str, str], tmp_path: Path) -> Ran:
    modules = tmp_path / f"modules-{time.monotonic_ns()}.txt"
    p = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        env={**env, "QUEUECTL_TEST_MODULES": str(modules)},
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return Ran(p.returncode, p.stdout, p.stderr, frozenset(modules.read_text().split()))


@pytest.fixture()
def env(cli, redis_url: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": redis_url, "QUEUECTL_HELPERS_DIR": str(cli.helpers_dir)}


@pytest.fixture()
def populated(cli, make_helper, write_file, register, seeder, core_app, client) -> Any:
    """Helpers of every kind (one disabled, one broken, one legacy), a queue, and history of each outcome."""
    from queuectl.store.control import set_enabled

    make_helper("pulse", {"type": "interval", "interval_seconds": 600})
    make_helper("morning", {"type": "daily", "time": "03:00", "priority": 1})
    make_helper("weekly", {"type": "cron", "cron": "0 4 * * 1", "timezone": "Europe/Berlin"})
    make_helper("sleepy", {"type": "interval", "interval_seconds": 86400, "expiry": 60})
    write_file("digest.py", LEGACY_HELPER)
    register()
    set_enabled(core_app, "sleepy", False)
    client.hset("internalAvailableHelpers", "mangled", "{not json")
    now = time.time()
    base = int(now) - 6 * 3600
    seeder.finished("pulse", base, "success", finished_at=now - 3 * 3600)
    seeder.finished(
        "pulse", base + 10, "error", finished_at=now - 60, error="ValueError: bööm\nline 2", reason="raised"
    )
    seeder.finished("morning", base + 20, "expired", finished_at=now - 30)
    return cli


LEGACY_HELPER = """
import schedule
from queuectl import BaseHelper


class Digest(BaseHelper):
    def schedule(self):
        schedule.every().monday.at("06:15", "Europe/Berlin").do(self.run)

    def run(self):
        pass
"""

JSON_READS = [
    ["helpers", "list", "--json"],
    ["status", "--json"],
    ["queue", "show", "--json"],
    ["history", "--json"],
    ["history", "--json", "--since", "2h", "--status", "error"],
]


@pytest.mark.parametrize("args", JSON_READS, ids=[" ".join(a) for a in JSON_READS])
def test_json_reads_load_neither_rich_nor_the_runtime(populated, env, tmp_path, args) -> None:
    ran = run(args, env, tmp_path)
    assert ran.code == 0, ran.err
    json.loads(ran.out)
    assert not ran.loaded(*NEVER_FOR_JSON), sorted(ran.loaded(*NEVER_FOR_JSON))
    assert ran.loaded("redis", "typer")  # one front, one Redis client


def test_tables_load_rich_and_still_not_the_runtime(populated, env, tmp_path) -> None:
    ran = run(["queue", "show"], env, tmp_path)
    assert ran.code == 0 and b"pulse:" in ran.out
    assert ran.loaded("rich") and not ran.loaded("queuectl.runtime", "schedule", "pytz")
    listed = run(["helpers", "show", "digest"], env, tmp_path)
    assert listed.code == 0 and b"legacy schedule() every().monday.at" in listed.out
    assert not listed.loaded("queuectl.runtime", "schedule", "pytz")


def test_json_is_the_documented_data(populated, env, tmp_path) -> None:
    ran = run(["helpers", "list", "--json"], env, tmp_path)
    rows = {r["name"]: r for r in json.loads(ran.out)}
    assert set(rows) == {"pulse", "morning", "weekly", "sleepy", "mangled", "digest"}
    assert rows["digest"]["schedule_source"] == "legacy" and rows["pulse"]["schedule_source"] == "config"
    assert rows["digest"]["schedule"]["cron"] == "15 6 * * 1" and rows["digest"]["source"].endswith("digest.py")
    assert rows["sleepy"]["enabled"] is False and rows["mangled"]["status"] == "broken"
    assert rows["weekly"]["next_run"] is not None  # the cron schedule was evaluated
    assert "croniter" in ran.modules  # ... which is the one thing that needs croniter
    status = run(["status", "--json"], env, tmp_path)
    assert not status.loaded("croniter")
    assert json.loads(status.out)["broken_helpers"] == 1 and b"Warning: Redis has no persistence" in status.err
    history = run(["history", "--json"], env, tmp_path)
    assert [r["status"] for r in json.loads(history.out)] == ["expired", "error", "success"]
    queued = run(["queue", "show", "--json"], env, tmp_path)
    assert len(json.loads(queued.out)) >= 12  # a 2-hour window of pulse, every 10 min


def test_status_with_a_live_dispatcher(populated, env, client, tmp_path) -> None:
    live_dispatcher(client, "testhost-1-abcd")
    for args in (["status"], ["status", "--check"], ["status", "--json", "--check"]):
        ran = run(args, env, tmp_path)
        assert ran.code == 0 and b"testhost-1-abcd" in ran.out


def test_check_without_a_dispatcher_exits_3(populated, env, tmp_path) -> None:
    for args in (["status", "--check"], ["status", "--json", "--check"]):
        ran = run(args, env, tmp_path)
        assert ran.code == 3 and ran.out


def test_redis_url_flag_wins_over_env(populated, env, redis_url, tmp_path) -> None:
    dead = {**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    for args in (["--redis-url", redis_url, "status", "--json"], [f"--redis-url={redis_url}", "history", "--json"]):
        assert run(args, dead, tmp_path).code == 0


def test_settings_file_and_bad_settings(populated, env, redis_url, tmp_path) -> None:
    (Path.cwd() / "queuectl.toml").write_text(f'redis_url = "{redis_url}"\nlease = 3\n')
    no_env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    ran = run(["helpers", "list", "--json"], no_env, tmp_path)
    assert ran.code == 0 and json.loads(ran.out)
    ran = run(["status", "--json"], {**env, "QUEUECTL_LEASE": "soon"}, tmp_path)
    assert ran.code == 2 and b"QUEUECTL_LEASE" in ran.err and ran.out == b""
    ran = run(["queue", "show", "--json"], {**env, "QUEUECTL_TIMEZONE": "Mars/Olympus"}, tmp_path)
    assert ran.code == 2 and b"Mars/Olympus" in ran.err and ran.out == b""


BAD_INPUT = [
    ["queue", "show", "--helper", "bad name!", "--json"],
    ["history", "--status", "bogus", "--json"],
    ["history", "--since", "5x", "--json"],
    ["history", "--helper", "a/b", "--json"],
]


@pytest.mark.parametrize("args", BAD_INPUT, ids=[" ".join(a) for a in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(populated, env, tmp_path, args) -> None:
    ran = run(args, env, tmp_path)
    assert ran.code == 2 and ran.out == b""
    assert ran.err.startswith(b"Error: ") and ran.err.count(b"\n") == 1, ran.err


# ---------------------------------------------------------------------------------------------
# Redis unreachable or refusing: one line


@pytest.fixture(scope="module")
def locked_server() -> Iterator[RedisServer]:
    server = RedisServer()  # its start-up check needs PING without a password: set one after
    try:
        import redis

        redis.Redis(port=server.port).config_set("requirepass", "pw")
        yield server
    finally:
        server.close()


READS = [
    ["helpers", "list", "--json"],
    ["status", "--json"],
    ["status"],
    ["queue", "show", "--json"],
    ["history", "--json", "--since", "2h"],
]


@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
def test_unreachable_redis_is_one_line(cli, env, tmp_path, locked_server, args) -> None:
    urls = [
        f"redis://:s3cret@127.0.0.1:{free_port()}/0",
        f"unix://{tmp_path}/absent.sock",
        f"redis://127.0.0.1:{locked_server.port}/0",
        f"redis://:wrong@127.0.0.1:{locked_server.port}/0",
    ]
    for url in urls:
        ran = run(args, {**env, "REDIS_URL": url}, tmp_path)
        assert ran.code == 1 and ran.out == b""
        assert ran.err.count(b"\n") == 1 and ran.err.startswith(b"Error: "), ran.err
        assert b"s3cret" not in ran.err


def test_password_protected_redis(cli, env, tmp_path, locked_server) -> None:
    url = f"redis://:pw@127.0.0.1:{locked_server.port}/0"
    ran = run(["status", "--json"], {**env, "REDIS_URL": url}, tmp_path)
    assert ran.code == 0 and json.loads(ran.out)["backend"]["url"] == f"redis://:***@127.0.0.1:{locked_server.port}/0"


def test_refused_command_is_one_line(cli, env, client, tmp_path) -> None:
    client.set("internalAvailableHelpers", "a string, not a hash")
    for args in (["status", "--json"], ["helpers", "list", "--json"]):
        ran = run(args, env, tmp_path)
        assert ran.code == 1 and b"WRONGTYPE" in ran.err and ran.err.count(b"\n") == 1


@pytest.mark.e2e
def test_running_embedded_server(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(QUEUECTL_HOME=str(tmp_path / "qh"), QUEUECTL_EMBEDDED_IDLE="30")
    start = subprocess.run(
        [sys.executable, "-m", "queuectl", "server", "start"], env=env, capture_output=True, timeout=60
    )
    try:
        assert start.returncode == 0, start.stderr
        ran = run(["status", "--json"], env, tmp_path)
        assert json.loads(ran.out)["backend"]["kind"] == "embedded"
    finally:
        subprocess.run([sys.executable, "-m", "queuectl", "server", "stop"], env=env, capture_output=True, timeout=60)
