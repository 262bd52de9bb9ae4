"""Fixtures of the fault-injection suite: a private redis-server per test, dispatchers as
subprocesses, the chaos proxy, and the invariant checker wired to the side-effect log.

Everything a test starts is stopped by its own pid when the test ends, helper processes included.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from chaos_proxy import ChaosProxy  # noqa: E402
from harness import Dispatcher, RedisServer, Sentinels, free_port, kill_stray, write_helpers  # noqa: E402
from invariants import assert_invariants, read_log  # noqa: E402
from support import queuectl_env  # noqa: E402

#: Shrunk timings (reliability.md §7): lease 1.5 s, tick 0.1 s.
LEASE = 1.5
TICK = 0.1


class Faults:
    """One scenario's world: Redis, helpers dir, side-effect log, dispatchers, proxies."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.helpers_dir = root / "helpers"
        self.helpers_dir.mkdir()
        self.cwd = root / "cwd"
        self.cwd.mkdir()
        self.log_path = root / "side-effects.log"
        self.redis = RedisServer()
        self.servers: list[RedisServer] = [self.redis]
        self.dispatchers: list[Dispatcher] = []
        self.proxies: list[ChaosProxy] = []
        self.sentinels: Sentinels | None = None
        self._client: Any = None

    # -- Redis ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.redis.url

    @property
    def client(self) -> Any:
        import redis

        if self._client is None:
            self._client = redis.Redis(host="127.0.0.1", port=self.redis.port, decode_responses=True, socket_timeout=5)
        return self._client

    def use_redis(self, server: RedisServer) -> RedisServer:
        """Replace the test's Redis (say, by one with persistence)."""
        self.servers.append(server)
        self.redis = server
        self._client = None
        return server

    def proxy(self) -> ChaosProxy:
        proxy = ChaosProxy(free_port(), self.redis.port)
        self.proxies.append(proxy)
        return proxy

    def proxy_url(self, proxy: ChaosProxy) -> str:
        return f"redis://127.0.0.1:{proxy.listen_port}/0"

    # -- helpers -------------------------------------------------------------------------------
    def helpers(self, filename: str, *specs: Any) -> Path:
        return write_helpers(self.helpers_dir, filename, self.log_path, specs)

    def log(self) -> list[Any]:
        return read_log(self.log_path)

    def starts(self, helper: str | None = None, after: float = 0.0) -> list[Any]:
        return [
            e
            for e in self.log()
            if e.kind == "start" and (helper is None or e.helper == helper) and (e.at or 0) >= after
        ]

    def beats(self, pid: int) -> list[float]:
        """When the `beat` helper running in process `pid` proved it was alive."""
        return [e.at for e in self.log() if e.kind == "beat" and e.pid == pid and e.at is not None]

    def execution(self, execution_id: str) -> dict[str, str]:
        return self.client.hgetall("execution:" + execution_id)

    # -- dispatchers ---------------------------------------------------------------------------
    def env(self, url: str | None = None, **extra: str) -> dict[str, str]:
        env = queuectl_env(url or self.url, self.helpers_dir, self.root)
        env["HOME"] = str(self.root / "home")
        env.update(extra)
        return env

    def dispatcher(
        self,
        *args: str,
        url: str | None = None,
        lease: float = LEASE,
        tick: float = TICK,
        concurrency: int = 4,
        window: float = 20,
        ready: bool = True,
        **env: str,
    ) -> Dispatcher:
        """Start `queuectl run` with shrunk timings (override with args) and wait until ready."""
        base = [
            "--lease",
            str(lease),
            "--tick",
            str(tick),
            "--concurrency",
            str(concurrency),
            "--window",
            str(window),
            "--expand-every",
            "5",
            "--grace",
            "1",
        ]
        d = Dispatcher(
            [*base, *args], self.env(url, **env), self.cwd, self.root / f"dispatcher{len(self.dispatchers)}.log"
        )
        self.dispatchers.append(d)
        return d.wait_ready() if ready else d

    # -- checks --------------------------------------------------------------------------------
    def check(
        self,
        lease: float = LEASE,
        reap_slack: float = 2.0,
        client: Any = None,
        now: float | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        figures = assert_invariants(client or self.client, self.log_path, now, lease, reap_slack, **options)
        print("invariant figures:", json.dumps(figures, sort_keys=True))
        return figures

    def stop_all(self, timeout: float = 10) -> None:
        """SIGTERM every live dispatcher and wait (so the checker sees a settled state)."""
        for d in self.dispatchers:
            if d.alive():
                if d.stopped:
                    d.cont()
                d.term()
        for d in self.dispatchers:
            try:
                d.wait(timeout)
            except Exception:  # noqa: BLE001
                d.close()

    def close(self) -> None:
        for d in self.dispatchers:
            d.close()
        for p in self.proxies:
            p.close()
        kill_stray(e.pid for e in self.log() if e.pid)
        if self.sentinels is not None:
            self.sentinels.close()
        for s in self.servers:
            s.close()


@pytest.fixture()
def fx(tmp_path: Path) -> Iterator[Faults]:
    world = Faults(tmp_path)
    started = time.monotonic()
    try:
        yield world
    finally:
        world.close()
        print(f"scenario took {time.monotonic() - started:.1f}s")
