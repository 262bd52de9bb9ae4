"""Log each start and success while they are few; past a rate, one summary line a second.

A burst of ten thousand executions in one second would otherwise write twenty thousand lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuectl.runtime.worker_process import Job, Result

log = logging.getLogger("queuectl.runtime.dispatcher")

#: Events of one kind logged one by one per second; beyond that, a summary line.
LOG_EACH = 20


def timing_text(started: float | None, finished: float | None, due: float) -> str:
    """' (started 0.4 ms after its time, ran 12 ms)' from a worker's own clock readings."""
    if started is None or finished is None:
        return ""
    late = max(0.0, started - due) * 1000
    return f" (started {late:.1f} ms after its time, ran {(finished - started) * 1000:.0f} ms)"


def outcome_fields(job: Job, result: Result, due: float, event: str) -> dict[str, Any]:
    """The `extra=` of an outcome's log line: what the JSON format shows of it (infra/logs.py),
    lateness and duration in ms from the worker's own clock readings, as `timing_text` has them."""
    fields: dict[str, Any] = {
        "event": event,
        "execution_id": job.execution_id,
        "helper": job.helper,
        "attempt": job.attempt,
    }
    if result.started is not None and result.finished is not None:
        fields["lateness_ms"] = round(max(0.0, result.started - due) * 1000, 3)
        fields["duration_ms"] = round((result.finished - result.started) * 1000, 3)
    if not result.ok:
        fields["error"] = result.error
        fields["reason"] = result.reason
    return fields


class LogThrottle:
    def __init__(self, monotonic: Callable[[], float], kinds: tuple[str, ...] = ("started", "succeeded")) -> None:
        self.monotonic = monotonic
        self.second = 0
        self.counts = {kind: 0 for kind in kinds}

    def allow(self, kind: str) -> bool:
        """Count one event of `kind`; True when it is to be logged on its own."""
        second = int(self.monotonic())
        if second != self.second:
            quiet = {k: n - LOG_EACH for k, n in self.counts.items() if n > LOG_EACH}
            if quiet:
                log.info(
                    "[DISPATCHER] %s more executions in the last second (not logged one by one)",
                    ", ".join(f"{n} {k}" for k, n in quiet.items()),
                    extra={"event": "executions_not_logged", "counts": quiet},
                )
            self.second = second
            self.counts = {k: 0 for k in self.counts}
        self.counts[kind] += 1
        return self.counts[kind] <= LOG_EACH
