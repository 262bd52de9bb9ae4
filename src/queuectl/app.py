"""What every core operation needs, built once per process: client, scripts, clock, settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TypeVar

from .clock import Clock, SystemClock
from .config import Settings
from .connection import ConnectionOptions, connect, guarded, redact_url
from .errors import InvalidInput

if TYPE_CHECKING:
    import redis

    from .planner import ConfigCache
    from .scripts import Scripts

T = TypeVar("T")


@dataclass(kw_only=True)
class App:
    client: "redis.Redis"
    scripts: "Scripts"
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    timezone_setting: str | None = None
    backend: dict[str, object] = field(default_factory=dict)
    _config_cache: "ConfigCache | None" = None
    _default_timezone: str | None = None

    @property
    def default_timezone(self) -> str:
        """The zone for schedules that name none (resolved on first use: read commands never
        need it, and the schedule module is slow to import)."""
        if self._default_timezone is None:
            from .schedule import default_timezone

            self._default_timezone = self.timezone_setting or default_timezone()
        return self._default_timezone

    @property
    def config_cache(self) -> "ConfigCache":
        if self._config_cache is None:
            from .planner import ConfigCache

            self._config_cache = ConfigCache()
        return self._config_cache

    @property
    def url(self) -> str:
        return self.settings.redis_url or ""

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    @property
    def window(self) -> float:
        return self.settings.window

    @property
    def history_ttl(self) -> float:
        return self.settings.history_ttl

    def guarded(self, call: Callable[[], T]) -> T:
        """Run a Redis call, mapping redis-py errors to RedisUnavailable (password-free)."""
        return guarded(self.url, call)


def open_app(settings: Settings, *, clock: Clock | None = None, socket_timeout: float | None = None) -> App:
    """Connect (lazily) and register scripts.

    With no Redis URL configured, the embedded default server is started (or reused) and used:
    queuectl never falls back to a network Redis the user did not name.
    """
    from dataclasses import replace

    from .scripts import Scripts

    if socket_timeout is None:
        # no Redis call may block longer than a third of a lease (the renewal period)
        socket_timeout = max(0.2, min(5.0, settings.lease / 3))

    backend: dict[str, object]
    if settings.redis_url:
        backend = {"kind": "redis", "url": redact_url(settings.redis_url)}
    else:
        from . import embedded

        lay = embedded.ensure_running()
        settings = replace(settings, redis_url=lay.url)
        backend = {"kind": "embedded", "data_dir": str(lay.home), "url": lay.url}
    client = connect(ConnectionOptions(url=settings.redis_url or "", socket_timeout=socket_timeout,
                                       insecure_tls=settings.insecure_tls))
    tz = settings.timezone
    if tz:
        from .schedule import parse_schedule

        try:  # validate once, with the schedule model's own zone rules
            parse_schedule({"type": "interval", "interval_seconds": 60, "timezone": tz}, default_timezone="UTC")
        except InvalidInput:
            raise InvalidInput(f"invalid timezone setting {tz!r} ({settings.sources.get('timezone', 'default')})") from None
    return App(client=client, scripts=Scripts(client), settings=settings, clock=clock or SystemClock(),
               timezone_setting=tz, backend=backend)
