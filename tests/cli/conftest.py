"""Fixtures for the CLI tests: an in-process CliRunner bound to the test Redis and a helpers dir.

Everything here is a fixture (not an importable function) so test modules never import a
`conftest` module by name: tests/conftest.py and this file would shadow each other.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import support
from queuectl.cli import app as cli_app


@dataclass
class Cli:
    """Runs `queuectl ARGS` in-process with REDIS_URL and QUEUECTL_HELPERS_DIR set."""

    redis_url: str
    helpers_dir: Path
    runner: CliRunner = field(default_factory=CliRunner)

    def env(self, **extra: str | None) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            "REDIS_URL": self.redis_url,
            "QUEUECTL_HELPERS_DIR": str(self.helpers_dir),
            "NO_COLOR": "1",
            "QUEUECTL_TIMEZONE": "UTC",
        }
        env.update(extra)
        return env

    def __call__(self, *args: str, env: dict[str, str | None] | None = None, check: int | None = None) -> Any:
        result = self.runner.invoke(
            cli_app, list(args), env=env if env is not None else self.env(), catch_exceptions=True
        )
        if check is not None:
            assert result.exit_code == check, (
                f"queuectl {' '.join(args)} exited {result.exit_code}, expected {check}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\nexception: {result.exception!r}"
            )
        return result

    def json(self, *args: str) -> Any:
        import json

        result = self(*args, "--json", check=0)
        return json.loads(result.stdout)


@pytest.fixture()
def helpers_dir(tmp_path: Path) -> Path:
    d = tmp_path / "helpers"
    d.mkdir()
    return d


@pytest.fixture()
def cli(client, redis_url: str, helpers_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`client` first: the database is flushed before the test runs any command. The working
    directory is a fresh tmp dir so no ./queuectl.toml or ./helpers can leak in."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return Cli(redis_url=redis_url, helpers_dir=helpers_dir)


@pytest.fixture()
def make_helper(helpers_dir: Path) -> Callable[..., Path]:
    """make_helper(name, schedule_dict, filename=None, body='pass') writes one helper file."""

    def make(
        name: str,
        schedule: dict[str, Any],
        *,
        filename: str | None = None,
        body: str = "pass",
        cls: str | None = None,
        directory: Path | None = None,
    ) -> Path:
        klass = cls or support.helper_class_name(name)
        text = support.helper_module(support.helper_class(klass, name, schedule, " " * 8 + body))
        return support.write_file(directory or helpers_dir, filename or f"{name}.py", text)

    return make


@pytest.fixture()
def write_file(helpers_dir: Path) -> Callable[[str, str], Path]:
    def write(filename: str, body: str) -> Path:
        return support.write_helper(helpers_dir, filename, body)

    return write


@pytest.fixture()
def raw_client(redis_server):
    import redis

    c = redis.Redis.from_url(redis_server.url)  # bytes: DUMP payloads are binary
    yield c
    c.close()


@pytest.fixture()
def snapshot(raw_client) -> Callable[[], dict[bytes, tuple[bytes | None, int]]]:
    """{key: (DUMP, has-TTL)} for every key in the database."""

    def take() -> dict[bytes, tuple[bytes | None, int]]:
        out = {}
        for key in sorted(raw_client.scan_iter(count=1000)):
            ttl = raw_client.ttl(key)
            out[key] = (raw_client.dump(key), 1 if ttl and ttl > 0 else ttl)
        return out

    return take


@pytest.fixture()
def core_app(client, redis_url: str):
    """A core App (real clock) on the test database, for seeding state through queuectl.store.scripts."""
    from queuectl.infra.app import open_app
    from queuectl.infra.config import Settings

    a = open_app(Settings.with_defaults(redis_url=redis_url, helpers_dir=Path("helpers"), timezone="UTC"))
    yield a
    a.client.close()


@dataclass
class Seeder:
    """Creates finished executions through the real Lua transitions (plan, claim, finish, expire)."""

    app: Any

    def _rev(self, helper: str) -> str:
        from queuectl.store.catalog import read_one

        return str(read_one(self.app.client, helper).rev)

    def finished(
        self,
        helper: str,
        execution_time: int,
        status: str,
        finished_at: float,
        *,
        error: str | None = None,
        reason: str | None = None,
        priority: int = 3,
    ) -> str:
        from queuectl.domain.models import format_time
        from queuectl.store.planner import keep_seconds
        from queuectl.store.scripts import ClaimRequest, Outcome, PlanGroup

        keep = keep_seconds(86400)
        scripts = self.app.scripts
        created, _existing, stale = scripts.plan(
            format_time(execution_time),
            [PlanGroup(helper=helper, rev=self._rev(helper), occurrences=[(execution_time, 0, priority)])],
        )
        assert (created, stale) == (1, 0), "seeding needs a fresh occurrence of a plannable helper"
        execution_id = f"{helper}:{execution_time}"
        if status == "expired":
            from queuectl.store.catalog import read_one

            expiry = read_one(self.app.client, helper).expiry or 0  # a planned execution's expiry is its helper's
            expired, _looked, _kept, anomalies = scripts.expire(
                now=format_time(execution_time + expiry + 1), keep=keep, offset=0, limit=1000
            )
            assert expired == 1 and not anomalies
            # finishedAt of an expiry is the sweep time; move it to the wanted finish time
            self.app.client.hset(f"execution:{execution_id}", "finishedAt", format_time(finished_at))
            self.app.client.zadd("internalExecutionHistory", {execution_id: finished_at})
            return execution_id
        result = scripts.claim(
            ClaimRequest(
                now=format_time(execution_time),
                limit=1,
                owner="seeder",
                lease_until=format_time(execution_time + 60),
                token_prefix="seed",
                scan=1000,
                keep=keep,
            )
        )
        assert [c.execution_id for c in result.claimed] == [execution_id], result
        token = result.claimed[0].token
        written = scripts.finish(
            now=format_time(finished_at),
            keep=keep,
            outcomes=[Outcome(execution_id=execution_id, token=token, status=status, error=error, reason=reason)],
        )
        assert written == [1]
        return execution_id


@pytest.fixture()
def register(core_app, helpers_dir: Path) -> Callable[[], Any]:
    """Discover and register the helpers dir through the core (what `helpers sync` does), so
    tests of the other commands do not depend on the sync command itself."""
    from queuectl.runtime.discovery import discover
    from queuectl.store.control import register as do_register

    def run() -> Any:
        return do_register(core_app, discover(helpers_dir, default_timezone="UTC"), helpers_dir)

    return run


@pytest.fixture()
def seeder(core_app) -> Seeder:
    return Seeder(core_app)


@pytest.fixture()
def restore_process_state() -> Iterator[None]:
    """`queuectl run` in-process installs signal handlers and a log handler: put them back."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    logger = logging.getLogger("queuectl")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
