"""Logging set-up, called by the CLI only (the core just uses `logging.getLogger(__name__)`).

Two formats, chosen by the `log_format` setting:

- `text`, for people: the prefixes `[STARTUP]`, `[QUEUE]`, `[DISPATCHER]` are in the message
  itself, so they survive any handler or formatter a user swaps in;
- `json`, for log shippers: one JSON object per line with `ts` (ISO 8601, UTC, milliseconds),
  `level`, `event` (the stable snake_case name each log call gives in `extra=`), `logger`,
  the fields the call passed in `extra=` (`execution_id`, `helper`, `lateness_ms`, ...), the
  fields `bind` set for the whole process (`dispatcher`), and `message`, the text line's message.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

FORMATS = ("text", "json")
#: The event of a record whose call named none (a third-party logger's, a helper's own).
DEFAULT_EVENT = "log"

#: Fields every JSON line of this process carries (bind); the text format ignores them.
_context: dict[str, Any] = {}
#: Attributes every LogRecord has: what is left over in a record's __dict__ came from `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        import time

        t = time.localtime(record.created)
        return time.strftime("%Y-%m-%d %H:%M:%S", t) + f".{int(record.msecs):03d}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def __init__(self, default_event: str = DEFAULT_EVENT) -> None:
        super().__init__()
        self.default_event = default_event

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import UTC, datetime

        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or self.default_event,
            "logger": record.name,
        }
        out.update(_context)
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and name not in out and not name.startswith("_"):
                out[name] = value
        out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def bind(**fields: Any) -> None:
    """Add fields to every JSON line this process writes from now on (the dispatcher's id)."""
    _context.update(fields)


def context() -> dict[str, Any]:
    """The fields `bind` set, as a dict a hot path may update in place (the worker's running
    execution)."""
    return _context


def handler(fmt: str, stream: IO[str] | None = None, *, default_event: str = DEFAULT_EVENT) -> logging.Handler:
    """A stderr handler writing `fmt` ("text" or "json")."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}")
    out = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        out.setFormatter(JsonFormatter(default_event))
    else:
        out.setFormatter(_UTCFormatter("%(asctime)s %(levelname)-7s %(message)s"))
    return out


def setup(verbose: int = 0, quiet: bool = False, fmt: str = "text") -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    root = logging.getLogger("queuectl")
    root.handlers[:] = [handler(fmt)]
    root.setLevel(level)
    root.propagate = False
