"""Logging set-up, called by the CLI only (the core just uses `logging.getLogger(__name__)`).

Log lines go to stderr and carry the prefixes `[STARTUP]`, `[QUEUE]`, `[DISPATCHER]` in the
message itself, so they survive any handler or formatter a user swaps in.
"""

from __future__ import annotations

import logging
import sys


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        import time

        t = time.localtime(record.created)
        return time.strftime("%Y-%m-%d %H:%M:%S", t) + f".{int(record.msecs):03d}"


def setup(verbose: int = 0, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)-7s %(message)s"))
    root = logging.getLogger("queuectl")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
