"""Runs the dispatcher's Redis steps so that no Redis failure ends its loop.

An outage is logged once when it starts and once when it ends: while it lasts, steps are skipped
until a PING (at most one a second) answers. Redis answering but refusing writes (OOM under
noeviction) is its own condition, also logged once, and ends with the first write that succeeds.
A bug or bad data in one step is logged (at most once a minute per step) and the loop goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from queuectl.domain import keys
from queuectl.domain.errors import RedisUnavailable
from queuectl.infra.connection import describe_redis_error

if TYPE_CHECKING:
    from queuectl.infra.app import App

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds between two probes while Redis is away or refuses writes.
PROBE_EVERY = 1.0
#: Seconds between two logs of the same step's unexpected error.
CRASH_LOG_EVERY = 60.0


class RedisGuard:
    """`run(what, step)` runs a step, or skips it while Redis is away; None when it did not run.

    `before_step` runs before every attempt, skipped or not (the dispatcher stops helpers whose
    leases it could not renew); `on_back` runs when Redis answers again, before any other step
    (a renewal may have been missed); `on_writable` when writes are accepted again."""

    def __init__(
        self,
        app: App,
        *,
        before_step: Callable[[], None],
        on_back: Callable[[], object],
        on_writable: Callable[[], None],
    ) -> None:
        self.client = app.client
        self.clock = app.clock
        self.url = app.url
        self.before_step = before_step
        self.on_back = on_back
        self.on_writable = on_writable
        self.outage_since: float | None = None  # wall time
        self.oom_since: float | None = None  # wall time
        self.last_probe_mono = -1e9
        self.last_crash_log: dict[str, float] = {}

    @property
    def away(self) -> bool:
        """Is Redis unreachable now (as far as the last step or probe knows)?"""
        return self.outage_since is not None

    def run(self, what: str, step: Callable[[], T]) -> T | None:
        import redis.exceptions as rexc

        if self.outage_since is not None and not self._back(what):
            return None
        self.before_step()
        if self.oom_since is not None and not self._writes_again():
            return None
        try:
            return step()
        except rexc.ResponseError as exc:
            # Redis 7 raises OutOfMemoryError; 6.2 wraps OOM in a script error
            if not isinstance(exc, rexc.OutOfMemoryError) and "OOM command not allowed" not in str(exc):
                self._failed(what, exc)
                return None
            if self.oom_since is None:
                self.oom_since = self.clock.time()
                log.error(
                    "[DISPATCHER] Redis is out of memory and refuses writes (%s): %s; claims are paused and "
                    "outcomes kept until it has room",
                    what,
                    str(exc).splitlines()[0],
                    extra={"event": "redis_out_of_memory", "step": what},
                )
            return None
        except (rexc.RedisError, RedisUnavailable) as exc:
            self._failed(what, exc)
            return None
        except Exception:  # noqa: BLE001 - a bug or bad data in one step must not end the loop
            mono = self.clock.monotonic()
            if mono - self.last_crash_log.get(what, -1e9) > CRASH_LOG_EVERY:
                self.last_crash_log[what] = mono
                log.exception(
                    "[DISPATCHER] unexpected error during %s (the dispatcher goes on)",
                    what,
                    extra={"event": "step_crashed", "step": what},
                )
            return None

    def _back(self, what: str) -> bool:
        """During an outage: probe (at most once a second); True once Redis answers again."""
        import redis.exceptions as rexc

        mono = self.clock.monotonic()
        if mono - self.last_probe_mono < PROBE_EVERY:
            self.before_step()
            return False
        self.last_probe_mono = mono
        try:
            self.client.ping()
        except rexc.RedisError:
            self.before_step()
            return False
        outage = self.clock.time() - (self.outage_since or 0.0)
        log.warning(
            "[DISPATCHER] Redis is back after %.1fs",
            outage,
            extra={"event": "redis_back", "outage_ms": round(outage * 1000)},
        )
        self.outage_since = None
        try:  # a renewal may have been missed: renew before the local leases are checked
            self.on_back()
        except rexc.RedisError as exc:
            self.before_step()
            self._failed("renew", exc)
            return False
        return True

    def _failed(self, what: str, exc: BaseException) -> None:
        if self.outage_since is None:
            self.outage_since = self.clock.time()
            self.last_probe_mono = self.clock.monotonic()
            message = str(exc) if isinstance(exc, RedisUnavailable) else describe_redis_error(exc, self.url)
            log.error(
                "[DISPATCHER] Redis unavailable (%s): %s; retrying every second",
                what,
                message,
                extra={"event": "redis_unavailable", "step": what, "error": message},
            )

    def _writes_again(self) -> bool:
        """During an OOM: try one write (at most once a second); True once Redis accepts it."""
        import redis.exceptions as rexc

        mono = self.clock.monotonic()
        if mono - self.last_probe_mono < PROBE_EVERY:
            return False
        self.last_probe_mono = mono
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.set(keys.WRITE_PROBE, "1")
            pipe.delete(keys.WRITE_PROBE)
            pipe.execute()
        except rexc.RedisError:
            return False
        oom = self.clock.time() - (self.oom_since or 0)
        log.warning(
            "[DISPATCHER] Redis accepts writes again after %.1fs",
            oom,
            extra={"event": "redis_writable", "outage_ms": round(oom * 1000)},
        )
        self.oom_since = None
        self.on_writable()
        return True
