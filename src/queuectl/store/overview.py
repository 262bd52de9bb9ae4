"""What `queuectl top` shows, read in two pipelined round trips: the first reads the indexes
(dispatchers, running, queue head, history), the second the hashes the first named.

Everything is bounded: the running list, the queue head, the last outcomes and the lateness
sample read at most a fixed number of entries, whatever the size of the queue or of history.
Lateness is `startedAt - executionTime` of first attempts of planned executions finished in the
last LATENESS_SPAN seconds (a retry starts late on purpose, a manual run is due at the second it
was asked in), from the most recent LATENESS_SAMPLE of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.ids import is_manual
from queuectl.domain.models import Execution, iso
from queuectl.domain.score import decode_score
from queuectl.store.dispatchers import heartbeat_json
from queuectl.store.replies import scored, texts

if TYPE_CHECKING:
    import redis

#: Seconds of history the lateness percentiles cover.
LATENESS_SPAN = 300.0
#: The most finished executions read for the lateness percentiles.
LATENESS_SAMPLE = 1000
#: Running executions read (the view shows fewer; the total is counted apart).
RUNNING_ROWS = 50


@dataclass(frozen=True, kw_only=True)
class Running:
    execution_id: str
    helper: str
    started_at: float | None
    dispatcher: str | None

    def to_json(self, now: float) -> dict[str, Any]:
        elapsed = None if self.started_at is None else round(max(0.0, now - self.started_at), 3)
        return {
            "execution_id": self.execution_id,
            "helper": self.helper,
            "started_at": iso(self.started_at),
            "elapsed_seconds": elapsed,
            "dispatcher": self.dispatcher,
        }


@dataclass(frozen=True, kw_only=True)
class Due:
    execution_id: str
    helper: str
    execution_time: float
    priority: int

    def to_json(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "helper": self.helper,
            "execution_time": iso(self.execution_time),
            "priority": self.priority,
        }


@dataclass(frozen=True, kw_only=True)
class Overview:
    """One refresh of `queuectl top`, read at `at` (Unix seconds)."""

    at: float
    helpers: int
    dispatchers: list[dict[str, Any]]
    running: list[Running]
    running_total: int
    queued_total: int
    next_due: list[Due]
    outcomes: list[Execution]  # newest first
    per_minute: int  # executions finished in the last 60 s
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None
    lateness_count: int  # how many first attempts the percentiles are over

    def to_json(self) -> dict[str, Any]:
        """What `top` shows, as `GET /overview` answers it: snake_case keys, ISO 8601 times with
        offset; `elapsed_seconds` of a running execution is counted to `at`."""
        return {
            "at": iso(self.at),
            "helpers": self.helpers,
            "dispatchers": self.dispatchers,
            "running": [r.to_json(self.at) for r in self.running],
            "running_total": self.running_total,
            "queued_total": self.queued_total,
            "next_due": [d.to_json() for d in self.next_due],
            "outcomes": [e.to_json() for e in self.outcomes],
            "per_minute": self.per_minute,
            "lateness_p50_ms": self.lateness_p50_ms,
            "lateness_p99_ms": self.lateness_p99_ms,
            "lateness_count": self.lateness_count,
            "lateness_span_seconds": LATENESS_SPAN,
        }


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The nearest-rank percentile `q` (0..1) of sorted values; None for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def gather(client: redis.Redis, now: float, *, rows: int = 10) -> Overview:
    """Read one Overview: dispatchers with their load, running executions, the next `rows` due,
    the last `rows` outcomes, executions per minute and lateness percentiles."""
    pipe = client.pipeline(transaction=False)
    pipe.zrangebyscore(keys.DISPATCHERS, now, "+inf")
    pipe.zcard(keys.RUNNING)
    pipe.zrange(keys.RUNNING, 0, RUNNING_ROWS - 1)
    pipe.zcard(keys.EXECUTION_QUEUE)
    pipe.zrange(keys.EXECUTION_QUEUE, 0, rows - 1, withscores=True)
    pipe.zrevrange(keys.EXECUTION_HISTORY, 0, rows - 1)
    pipe.zcount(keys.EXECUTION_HISTORY, f"({now - 60}", "+inf")
    pipe.zrevrangebyscore(keys.EXECUTION_HISTORY, "+inf", now - LATENESS_SPAN, start=0, num=LATENESS_SAMPLE)
    pipe.hlen(keys.AVAILABLE_HELPERS)
    (dispatcher_ids, running_total, running_ids, queued_total, head, last_ids, per_minute, sample_ids, helpers) = (
        pipe.execute()
    )
    dispatcher_ids, running_ids = texts(dispatcher_ids), texts(running_ids)
    last_ids, sample_ids = texts(last_ids), texts(sample_ids)

    pipe = client.pipeline(transaction=False)
    for dispatcher_id in dispatcher_ids:
        pipe.hgetall(keys.dispatcher_key(dispatcher_id))
    for execution_id in running_ids:
        pipe.hmget(keys.execution_key(execution_id), ["helper", "startedAt", "dispatcher"])
    for execution_id in last_ids:
        pipe.hgetall(keys.execution_key(execution_id))
    for execution_id in sample_ids:
        pipe.hmget(keys.execution_key(execution_id), ["executionTime", "startedAt", "attempt"])
    replies = pipe.execute(raise_on_error=False) if len(pipe) else []
    beats = replies[: len(dispatcher_ids)]
    del replies[: len(dispatcher_ids)]
    started = replies[: len(running_ids)]
    del replies[: len(running_ids)]
    last = replies[: len(last_ids)]
    del replies[: len(last_ids)]
    timing = replies

    dispatchers = [d for d in map(heartbeat_json, dispatcher_ids, beats) if d is not None]
    running = [_running(i, fields) for i, fields in zip(running_ids, started)]
    running.sort(key=lambda r: (r.started_at is None, r.started_at or 0.0))
    outcomes = [Execution.from_hash(i, data) for i, data in zip(last_ids, last) if isinstance(data, dict) and data]
    # a manual run (helpers run) is due at the whole second it was asked in: not a lateness
    measured = (fields for i, fields in zip(sample_ids, timing) if not is_manual(i))
    late = sorted(v for v in (_lateness(fields) for fields in measured) if v is not None)
    return Overview(
        at=now,
        helpers=int(helpers),
        dispatchers=dispatchers,
        running=running,
        running_total=int(running_total),
        queued_total=int(queued_total),
        next_due=[d for d in (_due(i, score) for i, score in scored(head)) if d is not None],
        outcomes=outcomes,
        per_minute=int(per_minute),
        lateness_p50_ms=_ms(percentile(late, 0.50)),
        lateness_p99_ms=_ms(percentile(late, 0.99)),
        lateness_count=len(late),
    )


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _running(execution_id: str, fields: Any) -> Running:
    helper, started_at, dispatcher = fields if isinstance(fields, list) else (None, None, None)
    return Running(
        execution_id=execution_id,
        helper=helper or execution_id.rpartition(":")[0],
        started_at=_number(started_at),
        dispatcher=dispatcher or None,
    )


def _due(execution_id: str, score: float) -> Due | None:
    try:
        execution_time, priority = decode_score(score)
    except ValueError:
        return None  # a score queuectl never writes: the claim quarantines it
    return Due(
        execution_id=execution_id,
        helper=execution_id.rpartition(":")[0],
        execution_time=float(execution_time),
        priority=priority,
    )


def _lateness(fields: Any) -> float | None:
    """startedAt - executionTime of a first attempt that started, in seconds; else None."""
    if not isinstance(fields, list):
        return None
    execution_time, started_at, attempt = (_number(v) for v in fields)
    if execution_time is None or started_at is None or (attempt or 1) != 1:
        return None
    return max(0.0, started_at - execution_time)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
