"""The read side of the metrics: one snapshot of what `/metrics` shows, cluster-wide.

The scripts that end executions count them in the `internalMetrics` hash (count_outcome in
lua/_lib.lua), so the figures are every dispatcher's, whichever `queuectl serve` reads them.
This module knows that hash's field layout; it imports no web or Prometheus code (the renderer,
api/metrics.py, does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from queuectl.domain import keys
from queuectl.store.replies import text_map

if TYPE_CHECKING:
    import redis

    from queuectl.domain.models import HelperRecord

#: Histogram upper bounds in seconds, as written into field names by lua/_lib.lua (the same
#: lists, checked by a test); the +Inf bucket follows the last.
LATENESS_BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "300")
DURATION_BUCKETS = ("0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "300", "900", "3600")
INF = "+Inf"


@dataclass(kw_only=True)
class Histogram:
    """A histogram as stored: counts per bucket (not cumulative) and the sum."""

    bounds: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)  # bound text (or +Inf) -> count
    sum_seconds: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, observations <= le) for every bound and +Inf, as Prometheus exposes them."""
        out, running = [], 0
        for bound in (*self.bounds, INF):
            running += self.counts.get(bound, 0)
            out.append((bound, running))
        return out


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Everything /metrics shows, read at one moment."""

    executions: dict[tuple[str, str], int]  # (helper, status) -> executions ended so
    lateness: Histogram  # all helpers: per-helper histograms would cost the finish script four
    duration: Histogram  # writes per execution instead of a few per batch (docs/monitoring.md)
    last_success: dict[str, float]
    queue_depth: int
    running: int
    dispatchers_alive: int
    next_run: dict[str, float]
    period: dict[str, float]


def read(client: redis.Redis, now: float) -> Snapshot:
    """The counters, the queue and running counts and the catalog in one pipeline, then the live
    dispatchers (store/dispatchers.live, as `status` counts them)."""
    from queuectl.store.catalog import decode_entry
    from queuectl.store.dispatchers import live

    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.METRICS)
    pipe.zcard(keys.EXECUTION_QUEUE)
    pipe.zcard(keys.RUNNING)
    pipe.hgetall(keys.AVAILABLE_HELPERS)
    counters_raw, queued, running, catalog_raw = pipe.execute(raise_on_error=False)
    for reply in (queued, running, catalog_raw):
        if isinstance(reply, Exception):
            raise reply
    # a metrics hash of the wrong type (damaged by hand) shows no counters rather than no page
    counters = text_map(counters_raw) if isinstance(counters_raw, dict) else {}
    executions, lateness, duration, last_success = parse_counters(counters)
    next_run: dict[str, float] = {}
    period: dict[str, float] = {}
    for name, raw in sorted(text_map(catalog_raw).items()):
        upcoming = schedule_pace(decode_entry(name, raw), now)
        if upcoming is not None:
            next_run[name], period[name] = upcoming
    return Snapshot(
        executions=executions,
        lateness=lateness,
        duration=duration,
        last_success=last_success,
        queue_depth=int(queued),
        running=int(running),
        dispatchers_alive=len(live(client, now)),
        next_run=next_run,
        period=period,
    )


def parse_counters(
    fields: dict[str, str],
) -> tuple[dict[tuple[str, str], int], Histogram, Histogram, dict[str, float]]:
    """The metrics hash's fields, by kind. A field that does not parse is skipped: a damaged
    counter must not take the whole page down."""
    executions: dict[tuple[str, str], int] = {}
    hists = {"late": Histogram(bounds=LATENESS_BUCKETS), "dur": Histogram(bounds=DURATION_BUCKETS)}
    last_success: dict[str, float] = {}
    for name, value in fields.items():
        kind, _, rest = name.partition("|")
        try:
            if kind == "runs":
                helper, _, status = rest.partition("|")
                executions[(helper, status)] = int(value)
            elif kind in hists:
                if rest in hists[kind].bounds or rest == INF:
                    hists[kind].counts[rest] = int(value)
            elif kind in ("late_us", "dur_us") and not rest:
                hists[kind.removesuffix("_us")].sum_seconds = int(value) / 1e6
            elif kind == "last_ok":
                seconds = float(value)
                if math.isfinite(seconds):
                    last_success[rest] = seconds
        except ValueError:
            continue
    return executions, hists["late"], hists["dur"], last_success


def schedule_pace(record: HelperRecord, now: float) -> tuple[float, float] | None:
    """(next run, period) of a helper that will run, else None (disabled, broken, never again).

    The period is an interval's length, 86400 s times a daily schedule's every_days, and for a
    cron the gap between its next two runs: what "it has not succeeded for two of its periods"
    (docs/monitoring.md) is measured in.
    """
    from queuectl.store.catalog import next_run

    first = next_run(record, now)
    if first is None or record.schedule is None:
        return None
    schedule = record.schedule
    if schedule.type == "interval" and schedule.interval_seconds:
        return first, float(schedule.interval_seconds)
    if schedule.type == "daily":
        return first, 86400.0 * schedule.every_days
    second = next_run(record, first)
    return first, (second - first) if second is not None else float(schedule.period_seconds())
