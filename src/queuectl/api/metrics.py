"""`GET /metrics`: the Prometheus text format of one metrics snapshot (store/metrics.py).

Cluster-wide: the figures are read from Redis, so any `queuectl serve` shows every dispatcher's
work. A fresh registry per request holds one custom collector over the snapshot, so nothing is
kept in this process and two scrapes of two `serve`s agree. prometheus_client is imported here
only (the `serve` code path), never by the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from queuectl.infra.app import App
    from queuectl.store.metrics import Histogram, Snapshot

#: The text format every Prometheus version reads (the names here need none of 1.0.0's escaping).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def render(app: App) -> tuple[bytes, str]:
    """(body, content type) of /metrics; a Redis failure raises RedisUnavailable (503)."""
    from queuectl.store.metrics import read

    now = app.clock.time()
    snapshot = app.guarded(lambda: read(app.client, now))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry), CONTENT_TYPE


class SnapshotCollector(Collector):
    """The metric families of one snapshot (the names docs/monitoring.md documents)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        executions = CounterMetricFamily(
            "queuectl_executions_total",
            "Executions that reached a final state, by helper and status; a failed attempt that is "
            "retried counts as one error (history keeps it as <id>#<attempt>).",
            labels=["helper", "status"],
        )
        for (helper, status), count in sorted(s.executions.items()):
            executions.add_metric([helper, status], count)
        yield executions
        yield _histogram(
            "queuectl_execution_lateness_seconds",
            "Start time minus the time it was due (executionTime, or its retry's time), of executions "
            "that started, all helpers.",
            s.lateness,
        )
        yield _histogram(
            "queuectl_execution_duration_seconds",
            "Finish time minus start time, of executions that started, all helpers.",
            s.duration,
        )
        yield GaugeMetricFamily("queuectl_queue_depth", "Executions queued (internalExecutionQueue).", s.queue_depth)
        yield GaugeMetricFamily("queuectl_running_executions", "Executions running now, on any dispatcher.", s.running)
        yield GaugeMetricFamily(
            "queuectl_dispatchers_alive", "Dispatchers whose heartbeat has not lapsed.", s.dispatchers_alive
        )
        yield _per_helper(
            "queuectl_helper_last_success_timestamp_seconds",
            "When the helper's latest successful execution finished (Unix seconds).",
            s.last_success,
        )
        yield _per_helper(
            "queuectl_helper_next_run_timestamp_seconds",
            "The helper's next scheduled run (Unix seconds); absent while it is disabled or broken.",
            s.next_run,
        )
        yield _per_helper(
            "queuectl_helper_period_seconds",
            "The gap between the helper's runs: the interval, 86400 x every_days, or for a cron the gap "
            "between its next two runs; absent while it is disabled or broken.",
            s.period,
        )


def _histogram(name: str, documentation: str, hist: Histogram) -> HistogramMetricFamily:
    """All helpers in one histogram (no label): per-helper buckets would cost the finish script
    a write per bucket and helper; per-helper durations are in each execution's hash."""
    family = HistogramMetricFamily(name, documentation, labels=[])
    family.add_metric([], [(le, float(n)) for le, n in hist.cumulative()], hist.sum_seconds)
    return family


def _per_helper(name: str, documentation: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["helper"])
    for helper, value in sorted(values.items()):
        family.add_metric([helper], value)
    return family
