"""The one function that builds a Redis connection: lazy, bounded, quick to fail.

redis-py's defaults retry a command up to 10 times with 5 s socket timeouts, so a call on a
black-holed link can block for about a minute, and a retried write can be applied twice. A CLI
must answer fast and a dispatcher owns its own retrying, so we set explicit timeouts and no
automatic command retries.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar
from urllib.parse import urlsplit

from .errors import InvalidInput, RedisUnavailable

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True, kw_only=True)
class ConnectionOptions:
    url: str
    socket_timeout: float = 5.0
    connect_timeout: float = 2.0


def redact_url(url: str) -> str:
    """The URL with any password replaced by '***', safe to print and log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if sep else f"{user}@{hostport}"
    query = parts.query
    if "password=" in query:
        query = "&".join(
            "password=***" if item.startswith("password=") else item for item in query.split("&")
        )
    if netloc == parts.netloc and query == parts.query:
        return url
    text = f"{parts.scheme}://{netloc}{parts.path}"
    return text + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def validate_url(url: str) -> None:
    """Refuse a URL redis-py would misread, with a message that never shows the password."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme not in SCHEMES:
        raise InvalidInput(
            f"invalid Redis URL {redact_url(url)!r}: use redis://, rediss:// or unix://"
        )


def connect(options: ConnectionOptions) -> "redis.Redis":
    """A client with bounded timeouts and no hidden command retries; connects lazily."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    validate_url(options.url)
    kwargs: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": options.socket_timeout,
        "socket_connect_timeout": options.connect_timeout,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
    }
    if options.url.startswith("unix://"):
        kwargs.pop("socket_connect_timeout")
    try:
        return redis.Redis.from_url(options.url, **kwargs)
    except ValueError as exc:
        raise InvalidInput(f"invalid Redis URL {redact_url(options.url)!r}: {exc}") from None


def describe_redis_error(exc: BaseException, url: str) -> str:
    """One line naming the URL (password removed) and what went wrong."""
    import redis.exceptions as rexc

    where = redact_url(url)
    if isinstance(exc, rexc.AuthenticationError):
        return f"cannot use Redis at {where}: authentication failed"
    if isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError)):
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"cannot reach Redis at {where}: {detail}"
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"Redis error at {where}: {detail}"


def guarded(url: str, call: Callable[[], T]) -> T:
    """Run `call`, turning any redis-py error into RedisUnavailable with a safe message."""
    import redis.exceptions as rexc

    try:
        return call()
    except rexc.RedisError as exc:
        raise RedisUnavailable(describe_redis_error(exc, url)) from None
