"""Injectable time, so schedules, DST and expiry are tested in simulated time.

The core never calls `time.time()` or `datetime.now()` directly: it asks a Clock. Waits are
interruptible so a stop signal ends them at once.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock Unix seconds."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; for leases, timeouts and waits."""

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` or until `event` is set; True if it was set."""


def utcnow(clock: Clock) -> datetime:
    """The clock's time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.time(), tz=UTC)


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to; `wait` advances it instead of sleeping."""

    def __init__(self, start: float | datetime) -> None:
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._mono = 1000.0

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    def set(self, when: float | datetime) -> None:
        """Jump the wall clock (forwards or backwards); monotonic time only moves forward."""
        new = when.timestamp() if isinstance(when, datetime) else float(when)
        self._mono += max(0.0, new - self._now)
        self._now = new

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.advance(max(0.0, seconds))
        return event.is_set()
