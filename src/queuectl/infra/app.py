"""What every core operation needs, built once per process: client, scripts, clock, settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from queuectl.domain.clock import Clock, SystemClock
from queuectl.infra.config import Settings
from queuectl.infra.connection import ConnectionOptions, connect, guarded, redact_url

if TYPE_CHECKING:
    import redis

    from queuectl.store.scripts import Scripts

T = TypeVar("T")


@dataclass(kw_only=True)
class App:
    """A redis-py client (connected lazily), the scripts registered on it, the clock and the
    settings in force, and `backend`, what `status` says about the Redis in use."""

    client: redis.Redis
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    backend: dict[str, object] = field(default_factory=dict)
    _default_timezone: str | None = None
    _scripts: Scripts | None = None

    @property
    def scripts(self) -> Scripts:
        """The Lua scripts, registered on first use: read commands never run one (`serve` reads
        the queue's head with queue_head.lua)."""
        if self._scripts is None:
            from queuectl.store.scripts import Scripts

            self._scripts = Scripts(self.client)
        return self._scripts

    @property
    def default_timezone(self) -> str:
        """The zone for schedules that name none: the `timezone` setting, else the system's
        (looked up on first use: read commands never need it)."""
        if self._default_timezone is None:
            from queuectl.domain.zones import system_timezone

            self._default_timezone = self.settings.timezone or system_timezone()
        return self._default_timezone

    @property
    def url(self) -> str:
        return self.settings.redis_url or ""

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    def guarded(self, call: Callable[[], T]) -> T:
        """Run a Redis call, mapping redis-py errors to RedisUnavailable (password-free)."""
        return guarded(self.url, call)


def open_app(settings: Settings, *, clock: Clock | None = None, socket_timeout: float | None = None) -> App:
    """Connect (lazily) with redis-py. `settings` were checked when they were resolved.

    With no Redis URL configured, the embedded default server is started (or reused) and used:
    queuectl never falls back to a network Redis the user did not name.
    """
    settings, backend = _backend(settings)
    client = connect(_options(settings, socket_timeout))
    return App(client=client, settings=settings, clock=clock or SystemClock(), backend=backend)


def _backend(settings: Settings) -> tuple[Settings, dict[str, object]]:
    """The settings with the Redis URL in force, and the `backend` that `status` shows; with no
    URL set, the embedded server, started when it is not running."""
    from dataclasses import replace

    if settings.redis_url:
        return settings, {"kind": "redis", "url": redact_url(settings.redis_url)}
    from queuectl.infra import embedded

    lay = embedded.ensure_running()
    settings = replace(settings, redis_url=lay.url)
    return settings, {"kind": "embedded", "data_dir": str(lay.home), "url": lay.url}


def _options(settings: Settings, socket_timeout: float | None) -> ConnectionOptions:
    if socket_timeout is None:
        # no Redis call may block longer than a third of a lease (the renewal period)
        socket_timeout = max(0.2, min(5.0, settings.lease / 3))
    return ConnectionOptions(
        url=settings.redis_url or "", socket_timeout=socket_timeout, insecure_tls=settings.insecure_tls
    )
