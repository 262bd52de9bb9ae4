"""A small RESP2 client for the read-only commands, built on the standard library alone.

`import redis` (redis-py 8 loads its asyncio client, cluster code and more) takes 60-200 ms,
most of the cold start of `queuectl status --json`. The read commands need a few commands on
one connection, so this client speaks RESP2 itself. It returns what queuectl's redis-py client
returns (decode_responses=True: str values, hgetall a dict, withscores (member, float) pairs)
and raises errors of the same kinds with the same texts, so the core read functions and the
CLI's one-line errors are the same with either client. It has no TLS and no Sentinel:
`parse_url` returns None for such URLs (and anything unusual), and the caller uses redis-py.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Callable, Sequence
from urllib.parse import unquote, urlparse


class RespError(Exception):
    """Root of this client's errors (redis-py's RedisError)."""


class RespConnectionError(RespError):
    """Redis cannot be reached or dropped the connection (redis-py's ConnectionError)."""


class RespTimeoutError(RespError):
    """A connect, read or write took longer than its timeout (redis-py's TimeoutError)."""


class RespAuthError(RespConnectionError):
    """Wrong or missing credentials (redis-py's AuthenticationError)."""


class RespResponseError(RespError):
    """Redis refused one command (redis-py's ResponseError)."""


# Error codes redis-py strips from the message, and the classes it maps them to
# (redis/_parsers/base.py EXCEPTION_CLASSES); other codes keep their text and are ResponseErrors.
_STRIPPED_CODES = frozenset({"ERR", "OOM", "WRONGPASS", "EXECABORT", "LOADING", "NOSCRIPT", "READONLY",
                             "NOAUTH", "NOPERM", "ASK", "TRYAGAIN", "MOVED", "CLUSTERDOWN", "CROSSSLOT",
                             "MASTERDOWN"})
_CODE_CLASSES: dict[str, type[RespError]] = {
    "WRONGPASS": RespAuthError, "NOAUTH": RespAuthError, "LOADING": RespConnectionError}
_ERR_CLASSES: dict[str, type[RespError]] = {
    "max number of clients reached": RespConnectionError,
    "invalid password": RespAuthError,
    "AUTH <password> called without any password configured for the default user. Are you sure "
    "your configuration is correct?": RespAuthError,
    "Client sent AUTH, but no password is set": RespAuthError,
    "problem with LDAP service": RespConnectionError,
}
_CLOSED = "Connection closed by server."


@dataclass(frozen=True)
class Address:
    """Where to connect and how to log in, as redis-py's from_url reads the same URL."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None  # a unix socket
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def where(self) -> str:
        """How redis-py names the server in its error messages."""
        return self.path if self.path is not None else f"{self.host}:{self.port}"


def parse_url(url: str) -> Address | None:
    """The address of a plain redis:// or unix:// URL, or None for a URL left to redis-py
    (rediss://, Sentinel, query options, a user without a password, anything unusual)."""
    if not url.startswith(("redis://", "unix://")) or any(c in url for c in "?#;"):
        return None
    try:
        parts = urlparse(url)
        port = parts.port
    except ValueError:
        return None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if username and not password:
        return None
    if parts.scheme == "unix":
        if not parts.path or parts.hostname:
            return None
        return Address(path=unquote(parts.path), username=username, password=password)
    db = 0
    if parts.path:
        try:  # redis-py's own reading of the path, so both clients pick the same database
            db = int(unquote(parts.path).replace("/", ""))
        except ValueError:
            pass
    return Address(host=unquote(parts.hostname) if parts.hostname else "localhost", port=port or 6379,
                   db=db, username=username, password=password)


def _encode(value: Any) -> bytes:
    """redis-py's argument encoding: str as UTF-8, numbers by repr (so floats keep every digit)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"cannot send {type(value).__name__} to Redis")
    return (value if isinstance(value, str) else repr(value)).encode()


def _pack(commands: Sequence[Sequence[Any]]) -> bytes:
    out = []
    for args in commands:
        out.append(b"*%d\r\n" % len(args))
        for arg in args:
            data = _encode(arg)
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _error(text: str) -> RespError:
    """An error reply as the exception redis-py would make of it."""
    code = text.split(" ")[0]
    if code not in _STRIPPED_CODES:
        return RespResponseError(text)
    message = text[len(code) + 1:]
    cls = _ERR_CLASSES.get(message, RespResponseError) if code == "ERR" else _CODE_CLASSES.get(code, RespResponseError)
    return cls(message)


def _pairs(reply: list[str]) -> dict[str, str]:
    return dict(zip(reply[::2], reply[1::2]))


def _scored(reply: list[str]) -> list[tuple[str, float]]:
    return [(member, float(score)) for member, score in zip(reply[::2], reply[1::2])]


def _info_value(value: str) -> Any:
    """redis-py's parse_info value rule, so `info()` returns the same types."""
    if "," not in value and "=" not in value:
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return value
    if "=" not in value:
        return [_info_value(v) for v in value.split(",") if v]
    out: dict[str, Any] = {}
    for item in filter(None, value.split(",")):
        if "=" in item:
            k, v = item.rsplit("=", 1)
            out[k] = _info_value(v)
        else:
            out[item] = True
    return out


def _info(reply: str) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for line in reply.splitlines():
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            info.setdefault("__raw__", []).append(line)
            continue
        key, value = line.split(":", 1)
        if key == "cmdstat_host":
            key, value = line.rsplit(":", 1)
        if key == "module":
            info.setdefault("modules", []).append(_info_value(value))
        else:
            info[key] = _info_value(value)
    return info


class _Commands:
    """The named commands the read paths use, with redis-py's signatures and return types."""

    def _call(self, args: tuple[Any, ...], convert: Callable[[Any], Any] | None = None) -> Any:
        raise NotImplementedError

    def hgetall(self, name: str) -> Any:
        return self._call(("HGETALL", name), _pairs)

    def hget(self, name: str, key: str) -> Any:
        return self._call(("HGET", name, key))

    def hmget(self, name: str, keys: Sequence[str]) -> Any:
        return self._call(("HMGET", name, *keys))

    def hvals(self, name: str) -> Any:
        return self._call(("HVALS", name))

    def zcard(self, name: str) -> Any:
        return self._call(("ZCARD", name))

    def zrange(self, name: str, start: int, end: int, withscores: bool = False) -> Any:
        return self._ranged(("ZRANGE", name, start, end), None, None, withscores)

    def zrangebyscore(self, name: str, min: Any, max: Any, start: int | None = None, num: int | None = None,
                      withscores: bool = False) -> Any:
        return self._ranged(("ZRANGEBYSCORE", name, min, max), start, num, withscores)

    def zrevrangebyscore(self, name: str, max: Any, min: Any, start: int | None = None, num: int | None = None,
                         withscores: bool = False) -> Any:
        return self._ranged(("ZREVRANGEBYSCORE", name, max, min), start, num, withscores)

    def _ranged(self, args: tuple[Any, ...], start: int | None, num: int | None, withscores: bool) -> Any:
        if (start is None) != (num is None):
            raise ValueError("start and num must both be given")
        if start is not None:
            args += ("LIMIT", start, num)
        if withscores:
            args += ("WITHSCORES",)
        return self._call(args, _scored if withscores else None)

    def info(self, section: str | None = None) -> Any:
        return self._call(("INFO",) if section is None else ("INFO", section), _info)

    def config_get(self, pattern: str = "*") -> Any:
        return self._call(("CONFIG", "GET", pattern), _pairs)


class RespClient(_Commands):
    """One lazily opened connection; every call is a single round trip."""

    def __init__(self, address: Address, *, socket_timeout: float, connect_timeout: float | None = None) -> None:
        self.address = address
        self.socket_timeout = socket_timeout
        self.connect_timeout = socket_timeout if connect_timeout is None else connect_timeout
        self._sock: socket.socket | None = None
        self._file: Any = None

    def execute_command(self, *args: Any) -> Any:
        """Any command, its reply decoded to str (a refusal raises RespResponseError)."""
        return self._call(args)

    def pipeline(self, transaction: bool = False) -> "RespPipeline":
        if transaction:
            raise ValueError("the lean client has no MULTI/EXEC pipelines")
        return RespPipeline(self)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                self._file.close()
                sock.close()
            except OSError:
                pass
        self._file = None

    def _call(self, args: tuple[Any, ...], convert: Callable[[Any], Any] | None = None) -> Any:
        reply = self.roundtrip([args])[0]
        if isinstance(reply, RespError):
            raise reply
        return convert(reply) if convert is not None and reply is not None else reply

    def roundtrip(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send the commands at once and read their replies; refusals come back as
        RespResponseError values, connection-level failures are raised."""
        if self._sock is None:
            self._connect()
        self._send(_pack(commands))
        return [self._read() for _ in commands]

    # -- connection --------------------------------------------------------------------------
    def _connect(self) -> None:
        try:
            sock = self._open()
        except TimeoutError:
            raise RespTimeoutError("Timeout connecting to server") from None
        except OSError as exc:
            raise RespConnectionError(_connect_message(self.address.where, exc)) from None
        self._sock, self._file = sock, sock.makefile("rb")
        try:
            self._handshake()
        except BaseException:
            self.close()
            raise

    def _open(self) -> socket.socket:
        """The socket, connected as redis-py does it (every resolved address tried in turn)."""
        a = self.address
        if a.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(a.path)
            except OSError:
                sock.close()
                raise
            sock.settimeout(self.socket_timeout)
            return sock
        error: OSError | None = None
        for family, kind, proto, _name, addr in socket.getaddrinfo(a.host, a.port, 0, socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(self.connect_timeout)
                sock.connect(addr)
                sock.settimeout(self.socket_timeout)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        raise error if error is not None else OSError("socket.getaddrinfo returned an empty list")

    def _handshake(self) -> None:
        a = self.address
        commands: list[tuple[Any, ...]] = []
        if a.password:
            # two-argument AUTH, like redis-py's HELLO ... AUTH: a password-less default user accepts it
            commands.append(("AUTH", a.username or "default", a.password))
        if a.db:
            commands.append(("SELECT", a.db))
        if not commands:
            return
        self._send(_pack(commands))
        for args in commands:
            reply = self._read()
            if isinstance(reply, RespError):
                raise reply
            if reply != "OK":
                raise RespAuthError("Invalid Username or Password") if args[0] == "AUTH" else \
                    RespConnectionError("Invalid Database")

    def _send(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except TimeoutError:
            self.close()
            raise RespTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            self.close()
            errno, message = ("UNKNOWN", exc.args[0]) if len(exc.args) == 1 else exc.args[:2]
            raise RespConnectionError(f"Error {errno} while writing to socket. {message}.") from None

    def _read(self) -> Any:
        """One reply; error replies are returned (a pipeline keeps them in place), except the
        connection-level ones, which are raised as redis-py raises them."""
        try:
            reply = self._parse()
        except TimeoutError:
            self.close()
            raise RespTimeoutError("Timeout reading from socket") from None
        except OSError as exc:
            where = self.address.where
            self.close()
            raise RespConnectionError(f"Error while reading from {where} : {exc.args}") from None
        except RespError:
            self.close()
            raise
        if isinstance(reply, RespConnectionError):
            self.close()
            raise reply
        return reply

    def _parse(self) -> Any:
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise RespConnectionError(_CLOSED)
        kind, rest = line[:1], line[1:-2]
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            if len(data) != size + 2:
                raise RespConnectionError(_CLOSED)
            return data[:-2].decode()
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._parse() for _ in range(count)]
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return _error(rest.decode())
        raise RespConnectionError(f"Protocol Error: {line!r}")


class RespPipeline(_Commands):
    """Queued commands sent in one round trip (redis-py's pipeline(transaction=False))."""

    def __init__(self, client: RespClient) -> None:
        self._client = client
        self._queued: list[tuple[tuple[Any, ...], Callable[[Any], Any] | None]] = []

    def _call(self, args: tuple[Any, ...], convert: Callable[[Any], Any] | None = None) -> "RespPipeline":
        self._queued.append((args, convert))
        return self

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        queued, self._queued = self._queued, []
        if not queued:
            return []
        replies = self._client.roundtrip([args for args, _ in queued])
        results = [reply if isinstance(reply, RespError) or convert is None or reply is None else convert(reply)
                   for (_, convert), reply in zip(queued, replies)]
        if raise_on_error:
            for number, (result, (args, _)) in enumerate(zip(results, queued), start=1):
                if isinstance(result, RespError):
                    raise _annotated(result, number, args)
        return results


def _annotated(exc: RespError, number: int, args: tuple[Any, ...]) -> RespError:
    """redis-py's wording for the first refused command of a pipeline."""
    import textwrap

    command = textwrap.shorten(" ".join(str(a) for a in args), width=100, placeholder="...",
                               break_long_words=True)
    exc.args = (f"Command # {number} ({command}) of pipeline caused error: {exc.args[0]}",) + exc.args[1:]
    return exc


def _connect_message(where: str, exc: OSError) -> str:
    """redis-py's format_error_message: the text of a failed connect."""
    if not exc.args:
        return f"Error connecting to {where}."
    if len(exc.args) == 1:
        return f"Error {exc.args[0]} connecting to {where}."
    return f"Error {exc.args[0]} connecting to {where}. {exc.args[1]}."
