"""Fills the lookahead window: schedule occurrences become queued executions.

Every occurrence in [now, now + window] becomes an execution, and so does a past occurrence whose
expiry still covers now (after downtime it runs at once). Ids are deterministic and plan.lua
skips existing ones, so planning is idempotent across re-plans, restarts and dispatchers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from queuectl.domain import keys
from queuectl.domain.ids import is_manual
from queuectl.domain.models import HelperRecord, format_time
from queuectl.domain.schedule import ScheduleConfig, occurrences
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

    def add(self, other: PlanReport) -> None:
        self.created += other.created
        self.existing += other.existing
        self.stale += other.stale
        self.helpers += other.helpers


def keep_seconds(history_ttl: float) -> int:
    """TTL given to finished execution hashes."""
    return int(history_ttl) + KEEP_MARGIN


def occurrences_for(
    config: ScheduleConfig, now: float, window: float, history_ttl: float
) -> list[tuple[int, int, int]]:
    """(executionTime, expiry, priority) for every occurrence to plan at `now`.

    Looks back at most min(expiry, history_ttl): an occurrence older than the history TTL could
    have run and been pruned already, and must never be planned a second time.
    """
    lookback = min(config.expiry, history_ttl)
    start = datetime.fromtimestamp(now - lookback, tz=UTC)
    end = datetime.fromtimestamp(now + window, tz=UTC)
    rows = []
    for when in occurrences(config, start, end):
        t = int(when.timestamp())
        if t + config.expiry >= now:
            rows.append((t, config.expiry, config.priority))
    return rows


def plan(
    scripts: Scripts,
    records: Iterable[HelperRecord],
    *,
    now: float,
    window: float,
    history_ttl: float,
    write_hashes: bool = True,
) -> PlanReport:
    """Create the window's executions for every plannable helper in `records` (the records the
    caller holds: plan.lua skips a helper whose catalog entry has moved on since). Each gets its
    `execution:{id}` hash, status `queued`, unless `write_hashes` is off (the compact layout)."""
    report = PlanReport()
    batch: list[PlanGroup] = []
    size = 0
    now_text = format_time(now)

    def flush() -> None:
        nonlocal batch, size
        if batch:
            created, existing, stale = scripts.plan(now_text, batch, write_hashes=write_hashes)
            report.created += created
            report.existing += existing
            report.stale += stale
            batch, size = [], 0

    for record in records:
        config = record.schedule
        if not record.plannable or config is None:
            continue
        report.helpers += 1
        rows = occurrences_for(config, now, window, history_ttl)
        for i in range(0, len(rows), PLAN_BATCH):
            chunk = rows[i : i + PLAN_BATCH]
            batch.append(PlanGroup(helper=record.name, rev=str(record.rev), occurrences=chunk))
            size += len(chunk) + 1
            if size >= PLAN_BATCH:
                flush()
    flush()
    return report


def queued_ids(client: redis.Redis, helper: str) -> list[str]:
    """Ids of `helper`'s planned executions in the queue (a bounded-step ZSCAN; names hold no glob
    chars). Manual runs (`helpers run`) are not the schedule's: disable and update leave them
    (`executions cancel` removes one)."""
    ids = []
    for member, _score in client.zscan_iter(keys.EXECUTION_QUEUE, match=f"{helper}:*", count=1000):
        if member.rpartition(":")[0] == helper and not is_manual(member):
            ids.append(member)
    return ids


def unplan(client: redis.Redis, scripts: Scripts, helper: str) -> int:
    """Remove `helper`'s queued executions (running and finished ones stay)."""
    ids = queued_ids(client, helper)
    removed = 0
    for i in range(0, len(ids), 500):
        removed += scripts.unplan(ids[i : i + 500])
    return removed
