"""Fills the lookahead window: schedule occurrences become queued executions.

Every occurrence in [now, now + window] becomes an execution, and so does a past occurrence whose
expiry still covers now (after downtime it runs at once). Ids are deterministic and plan.lua
skips existing ones, so planning is idempotent across re-plans, restarts and dispatchers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from queuectl.domain import keys
from queuectl.domain.models import HelperRecord
from queuectl.domain.schedule import ScheduleConfig, occurrences, parse_schedule
from queuectl.domain.models import format_time
from queuectl.store.scripts import PlanGroup

if TYPE_CHECKING:
    import redis

    from queuectl.store.scripts import Scripts

#: Occurrences per plan.lua call: bounds how long one script blocks Redis.
PLAN_BATCH = 1000
#: Seconds a finished hash is kept beyond the history TTL, as a safety margin for its TTL.
KEEP_MARGIN = 3600


@dataclass(kw_only=True)
class PlanReport:
    created: int = 0
    existing: int = 0
    stale: int = 0
    helpers: int = 0

    def add(self, other: "PlanReport") -> None:
        self.created += other.created
        self.existing += other.existing
        self.stale += other.stale
        self.helpers += other.helpers


def keep_seconds(history_ttl: float) -> int:
    """TTL given to finished execution hashes."""
    return int(history_ttl) + KEEP_MARGIN


class ConfigCache:
    """Parsed schedules by (helper, revision), so a re-plan does not re-validate 10k configs."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, str], ScheduleConfig | None] = {}

    def get(self, record: HelperRecord) -> ScheduleConfig | None:
        key = (record.name, record.rev, json.dumps(record.schedule, sort_keys=True))
        if key not in self._cache:
            if len(self._cache) > 50_000:
                self._cache.clear()
            try:
                schedule = record.schedule or {}
                self._cache[key] = parse_schedule(schedule, default_timezone=str(schedule.get("timezone") or "UTC"))
            except Exception:  # a corrupt stored schedule is simply not planned
                self._cache[key] = None
        return self._cache[key]


_DEFAULT_CACHE = ConfigCache()


def occurrences_for(config: ScheduleConfig, now: float, window: float, history_ttl: float) -> list[tuple[int, int, int]]:
    """(executionTime, expiry, priority) for every occurrence to plan at `now`.

    Looks back at most min(expiry, history_ttl): an occurrence older than the history TTL could
    have run and been pruned already, and must never be planned a second time.
    """
    lookback = min(config.expiry, history_ttl)
    start = datetime.fromtimestamp(now - lookback, tz=timezone.utc)
    end = datetime.fromtimestamp(now + window, tz=timezone.utc)
    rows = []
    for when in occurrences(config, start, end):
        t = int(when.timestamp())
        if t + config.expiry >= now:
            rows.append((t, config.expiry, config.priority))
    return rows


def plan(scripts: "Scripts", records: Iterable[HelperRecord], *, now: float, window: float,
         history_ttl: float, cache: ConfigCache | None = None) -> PlanReport:
    """Create the window's executions for every plannable helper in `records`."""
    cache = cache or _DEFAULT_CACHE
    report = PlanReport()
    batch: list[PlanGroup] = []
    size = 0
    now_text = format_time(now)

    def flush() -> None:
        nonlocal batch, size
        if batch:
            created, existing, stale = scripts.plan(now_text, batch)
            report.created += created
            report.existing += existing
            report.stale += stale
            batch, size = [], 0

    for record in records:
        if not record.plannable:
            continue
        config = cache.get(record)
        if config is None or not config.enabled:
            continue
        report.helpers += 1
        rows = occurrences_for(config, now, window, history_ttl)
        for i in range(0, len(rows), PLAN_BATCH):
            chunk = rows[i:i + PLAN_BATCH]
            batch.append(PlanGroup(helper=record.name, rev=str(record.rev), occurrences=chunk))
            size += len(chunk) + 1
            if size >= PLAN_BATCH:
                flush()
    flush()
    return report


def queued_ids(client: "redis.Redis", helper: str) -> list[str]:
    """Ids of `helper`'s executions in the queue (a bounded-step ZSCAN; names hold no glob chars)."""
    ids = []
    for member, _score in client.zscan_iter(keys.EXECUTION_QUEUE, match=f"{helper}:*", count=1000):
        if member.rpartition(":")[0] == helper:
            ids.append(member)
    return ids


def unplan(client: "redis.Redis", scripts: "Scripts", helper: str) -> int:
    """Remove `helper`'s queued executions (running and finished ones stay)."""
    ids = queued_ids(client, helper)
    removed = 0
    for i in range(0, len(ids), 500):
        removed += scripts.unplan(ids[i:i + 500])
    return removed
