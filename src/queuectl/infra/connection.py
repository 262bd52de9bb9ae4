"""The functions that build a Redis connection: lazy, bounded, quick to fail.

redis-py's defaults retry a command up to 10 times with 5 s socket timeouts, so a call on a
black-holed link can block for about a minute, and a retried write can be applied twice. A CLI
must answer fast and a dispatcher owns its own retrying, so we set explicit timeouts and no
automatic command retries.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from queuectl.domain.errors import InvalidInput, RedisUnavailable

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")


@dataclass(frozen=True, kw_only=True)
class ConnectionOptions:
    url: str
    socket_timeout: float = 5.0
    connect_timeout: float = 2.0
    insecure_tls: bool = False  # allow rediss://...?ssl_cert_reqs=none


def redact_url(url: str) -> str:
    """The URL with any password replaced by '***', safe to print and log.

    Malformed URLs are masked too: anything before an '@' may be a password.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or "://" not in url or (not parts.netloc and "@" in url):
        if "@" in url:
            head = url.split(":", 1)[0] if ":" in url.split("@", 1)[0] else ""
            return f"{head}:***@{url.rpartition('@')[2]}" if head else f"***@{url.rpartition('@')[2]}"
        return url if parts is not None else "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if sep else f"{user}@{hostport}"
    query = parts.query
    if "password" in query:
        query = "&".join(
            item.split("=", 1)[0] + "=***" if "password" in item.split("=", 1)[0] else item for item in query.split("&")
        )
    if netloc == parts.netloc and query == parts.query:
        return url
    text = f"{parts.scheme}://{netloc}{parts.path}"
    return text + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def validate_url(url: str) -> None:
    """Refuse a URL redis-py would misread, with a message that never shows the password."""
    try:
        scheme = urlsplit(url).scheme if "://" in url else ""
    except ValueError as exc:
        raise InvalidInput(f"invalid Redis URL {redact_url(url)!r}: {exc}") from None
    if scheme not in SCHEMES:
        raise InvalidInput(
            f"invalid Redis URL {redact_url(url)!r}: use redis://, rediss://, unix:// or redis+sentinel://"
        )


def connect(options: ConnectionOptions) -> redis.Redis:
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
    if options.url.startswith("redis+sentinel://"):
        return _sentinel_client(options, kwargs)
    if options.url.startswith("unix://"):
        kwargs.pop("socket_connect_timeout")
    _check_tls(options)
    try:
        return redis.Redis.from_url(options.url, **kwargs)
    except ValueError as exc:
        raise InvalidInput(f"invalid Redis URL {redact_url(options.url)!r}: {exc}") from None


def _check_tls(options: ConnectionOptions) -> None:
    """rediss:// verifies certificates (redis-py's default); switching that off must be explicit."""
    if not options.url.startswith("rediss://"):
        return
    from urllib.parse import parse_qs

    query = parse_qs(urlsplit(options.url).query)
    reqs = [v.lower() for v in query.get("ssl_cert_reqs", [])]
    if any(v in ("none", "optional", "cert_none", "cert_optional") for v in reqs):
        if not options.insecure_tls:
            raise InvalidInput(
                "the Redis URL turns TLS certificate verification off (ssl_cert_reqs=none): "
                "pass --insecure-tls (or QUEUECTL_INSECURE_TLS=1) if you really mean it"
            )
        import logging

        logging.getLogger(__name__).warning(
            "TLS certificate verification is OFF for %s (--insecure-tls)",
            redact_url(options.url),
            extra={"event": "tls_verification_off"},
        )


def parse_sentinel_url(url: str) -> dict[str, Any]:
    """redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db][?sentinel_password=...]"""
    from urllib.parse import parse_qs, unquote

    parts = urlsplit(url)
    netloc = parts.netloc
    username = password = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, sep, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if sep else None
    hosts = []
    for item in netloc.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise InvalidInput(f"invalid Sentinel URL {redact_url(url)!r}: each sentinel is host:port")
        hosts.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise InvalidInput(
            f"invalid Sentinel URL {redact_url(url)!r}: the master's service name is missing "
            "(redis+sentinel://host:26379/mymaster/0)"
        )
    db = 0
    if len(path) > 1:
        if not path[1].isdigit():
            raise InvalidInput(f"invalid Sentinel URL {redact_url(url)!r}: database must be a number")
        db = int(path[1])
    sentinel_password = parse_qs(parts.query).get("sentinel_password")
    return {
        "hosts": hosts,
        "service": path[0],
        "db": db,
        "username": username,
        "password": password,
        "sentinel_password": sentinel_password[0] if sentinel_password else None,
    }


def _sentinel_client(options: ConnectionOptions, kwargs: dict[str, Any]) -> redis.Redis:
    from redis.sentinel import Sentinel

    spec = parse_sentinel_url(options.url)
    sentinel_kwargs = {"socket_timeout": options.socket_timeout, "socket_connect_timeout": options.connect_timeout}
    if spec["sentinel_password"]:
        sentinel_kwargs["password"] = spec["sentinel_password"]
    sentinel = Sentinel(
        spec["hosts"],
        sentinel_kwargs=sentinel_kwargs,
        socket_timeout=options.socket_timeout,
        socket_connect_timeout=options.connect_timeout,
    )
    kwargs = dict(kwargs)
    kwargs.pop("socket_connect_timeout", None)
    kwargs.pop("socket_timeout", None)
    client: redis.Redis = sentinel.master_for(
        spec["service"], db=spec["db"], username=spec["username"], password=spec["password"], **kwargs
    )
    client.queuectl_sentinel = (sentinel, spec["service"])  # type: ignore[attr-defined]  # see ensure_current_master
    return client


def ensure_current_master(client: redis.Redis) -> bool:
    """For a Sentinel client: if Sentinel now names another master than the one our pooled
    connections talk to, drop them (the next command connects to the new master). A demoted
    master stays writable for a while, and what is written there is lost. True if reconnected."""
    pair = getattr(client, "queuectl_sentinel", None)
    if pair is None:
        return False
    sentinel, service = pair
    master = sentinel.discover_master(service)
    pool = client.connection_pool
    known = getattr(client, "queuectl_master", None)
    client.queuectl_master = master  # type: ignore[attr-defined]
    if known is not None and tuple(known) != tuple(master):
        pool.disconnect()
        return True
    return False


def is_redis_error(exc: BaseException) -> bool:
    """True for an error of redis-py's family. redis-py is only consulted when something already
    imported it: otherwise no redis-py error can exist, and a command need not pay for the import."""
    rexc = sys.modules.get("redis.exceptions")
    return rexc is not None and isinstance(exc, rexc.RedisError)


def describe_redis_error(exc: BaseException, url: str) -> str:
    """One line naming the URL (password removed) and what went wrong."""
    import redis.exceptions as rexc

    where = redact_url(url)
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, rexc.AuthenticationError):
        return f"cannot use Redis at {where}: authentication failed"
    if isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError)):
        return f"cannot reach Redis at {where}: {detail}"
    return f"Redis error at {where}: {detail}"


def guarded(url: str, call: Callable[[], T]) -> T:
    """Run `call`, turning any Redis client error into RedisUnavailable with a safe message."""
    try:
        return call()
    except Exception as exc:
        if not is_redis_error(exc):
            raise
        raise RedisUnavailable(describe_redis_error(exc, url)) from None


def sentinel_replicas(client: redis.Redis) -> int:
    """How many replicas Sentinel knows for our master (0 without Sentinel)."""
    pair = getattr(client, "queuectl_sentinel", None)
    if pair is None:
        return 0
    sentinel, service = pair
    return len(sentinel.discover_slaves(service))
