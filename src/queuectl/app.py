"""What every core operation needs, built once per process: client, scripts, clock, settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TypeVar

from .clock import Clock, SystemClock
from .config import Settings
from .connection import ConnectionOptions, connect, guarded, redact_url
from .errors import InvalidInput
from .planner import ConfigCache
from .schedule import default_timezone

if TYPE_CHECKING:
    import redis

    from .scripts import Scripts

T = TypeVar("T")


@dataclass(kw_only=True)
class App:
    client: "redis.Redis"
    scripts: "Scripts"
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    default_timezone: str = "UTC"
    config_cache: ConfigCache = field(default_factory=ConfigCache)

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


def open_app(settings: Settings, *, clock: Clock | None = None, socket_timeout: float = 5.0) -> App:
    """Connect (lazily) and register scripts; raises InvalidInput when no URL is configured."""
    from .scripts import Scripts

    if not settings.redis_url:
        raise InvalidInput("no Redis configured: set REDIS_URL or pass --redis-url (e.g. redis://localhost:6379/0)")
    client = connect(ConnectionOptions(url=settings.redis_url, socket_timeout=socket_timeout))
    return App(client=client, scripts=Scripts(client), settings=settings, clock=clock or SystemClock(),
               default_timezone=default_timezone())
