"""Settings for a queuectl process, with defaults in one place.

The CLI fills these from flags and environment variables; the core only reads them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WINDOW = 7200.0
DEFAULT_EXPAND_EVERY = 300.0
DEFAULT_TICK = 1.0
DEFAULT_CONCURRENCY = 10
DEFAULT_GRACE = 30.0
DEFAULT_HISTORY_TTL = 86400.0
DEFAULT_LEASE = 30.0


@dataclass(frozen=True, kw_only=True)
class Settings:
    redis_url: str | None = None
    helpers_dir: Path = Path("helpers")
    window: float = DEFAULT_WINDOW
    expand_every: float = DEFAULT_EXPAND_EVERY
    tick: float = DEFAULT_TICK
    concurrency: int = DEFAULT_CONCURRENCY
    grace: float = DEFAULT_GRACE
    history_ttl: float = DEFAULT_HISTORY_TTL
    lease: float = DEFAULT_LEASE


def env_helpers_dir() -> Path:
    return Path(os.environ.get("QUEUECTL_HELPERS_DIR") or "helpers")
