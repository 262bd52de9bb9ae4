"""Shared fixtures: a real redis-server per test session, a clean database per test, isolated env."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from queuectl.domain.clock import ManualClock  # noqa: E402
from queuectl.infra.app import App  # noqa: E402
from queuectl.infra.config import Settings  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from support import NOW  # noqa: E402

# A test run started in the background by a non-interactive shell (`bash .ci/run &`, nohup) has
# SIGINT ignored, and an ignored signal stays ignored across exec: every queuectl process a test
# starts would then shrug off the Ctrl-C that tests send (`history --follow`, `top`). A Python
# handler, unlike SIG_IGN, is reset to the default in a child, so the children get Ctrl-C back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.close()


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture()
def client(redis_server: RedisServer):
    import redis

    c = redis.Redis.from_url(redis_server.url, decode_responses=True)
    c.flushdb()
    yield c
    c.close()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's REDIS_URL, helpers or time zone."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("QUEUECTL_HELPERS_DIR", str(tmp_path / "no-helpers-here"))
    monkeypatch.setenv("QUEUECTL_TIMEZONE", "UTC")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture()
def clock() -> ManualClock:
    # a Monday, 2026-11-30 10:00:00 UTC
    return ManualClock(float(NOW))


@pytest.fixture()
def app(client, redis_url: str, clock: ManualClock) -> App:
    from queuectl.infra.app import open_app

    settings = Settings.with_defaults(redis_url=redis_url, helpers_dir=Path("helpers"), timezone="UTC")
    return open_app(settings, clock=clock)
