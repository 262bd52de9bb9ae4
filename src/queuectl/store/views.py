"""The read side every front shows: what `--json` prints and what the HTTP API answers.

The CLI and `queuectl serve` call these and nothing else for their reads, so both check input
the same way (same messages) and return the same objects. Each call goes through
`App.guarded`: a Redis failure becomes RedisUnavailable, whichever front asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from queuectl.domain.errors import InvalidInput, UnknownExecution
from queuectl.domain.ids import split_execution_id
from queuectl.domain.models import FINISHED_STATUSES, Execution, HelperRecord

if TYPE_CHECKING:
    from queuectl.domain.audit import AuditEntry
    from queuectl.domain.timetext import Since
    from queuectl.infra.app import App
    from queuectl.store.overview import Overview

#: The largest `limit` a listing takes (queue show, history).
MAX_LIMIT = 100000


def executions_json(rows: list[Execution]) -> list[dict[str, Any]]:
    """Executions as `--json` lists them."""
    return [e.to_json() for e in rows]


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"invalid limit {limit!r}: use 1 to {MAX_LIMIT}")
    return limit


def helpers(app: App) -> list[dict[str, Any]]:
    """Every registered helper, by name (`helpers list --json`, `GET /helpers/`)."""
    from queuectl.store.catalog import helper_json, read_all

    now = app.clock.time()
    records = app.guarded(lambda: read_all(app.client))
    return [helper_json(r, now) for r in records.values()]


@dataclass(frozen=True, kw_only=True)
class HelperDetail:
    """One helper with its next queued and latest finished executions; `data` is the JSON."""

    record: HelperRecord
    queued: list[Execution]
    recent: list[Execution]
    data: dict[str, Any]  # `last_change`: the helper's latest audited change (AuditEntry.brief), or None


def helper(app: App, name: str) -> HelperDetail:
    """One helper (`helpers show NAME --json`, `GET /helpers/{name}`); UnknownHelper if none."""
    from queuectl.store import history as history_store
    from queuectl.store import queue as queue_store
    from queuectl.store.audit import last_change
    from queuectl.store.catalog import helper_json, read_one

    now = app.clock.time()
    record = app.guarded(lambda: read_one(app.client, name))
    queued = app.guarded(lambda: queue_store.show(app.client, limit=10, helper=name))
    recent = app.guarded(lambda: history_store.query(app.client, helper=name, limit=10))
    last = app.guarded(lambda: last_change(app.client, name))
    data = helper_json(record, now)
    data["queued"] = executions_json(queued)
    data["recent"] = executions_json(recent)
    data["last_change"] = last.brief() if last is not None else None
    return HelperDetail(record=record, queued=queued, recent=recent, data=data)


@dataclass(frozen=True, kw_only=True)
class QueueQuery:
    """What to list of the queue, checked (before any Redis connection is opened)."""

    limit: int = 20
    helper: str | None = None


def queue_query(*, limit: int = 20, helper: str | None = None) -> QueueQuery:
    from queuectl.store.catalog import check_name

    check_limit(limit)
    if helper is not None:
        check_name(helper)
    return QueueQuery(limit=limit, helper=helper)


def queue(app: App, query: QueueQuery, *, one_round_trip: bool = False) -> list[Execution]:
    """Queued executions in dispatch order (`queue show`, `GET /helpers/executions/queue`).
    `one_round_trip`: read the queue's head with queue_head.lua, for a server asked many times a
    second; a one-shot command does not pay for loading the scripts (~15 ms of its start)."""
    from queuectl.store import queue as queue_store

    scripts = app.scripts if one_round_trip else None
    return app.guarded(lambda: queue_store.show(app.client, limit=query.limit, helper=query.helper, scripts=scripts))


@dataclass(frozen=True, kw_only=True)
class HistoryQuery:
    """What to list of history, checked (before any Redis connection is opened)."""

    helper: str | None = None
    status: str | None = None
    since: Since | None = None
    limit: int = 50


def history_query(
    *, helper: str | None = None, status: str | None = None, since: str | None = None, limit: int = 50
) -> HistoryQuery:
    """`since`: a span back from now or a date and time, as people type it."""
    from queuectl.domain.timetext import parse_since
    from queuectl.store.catalog import check_name

    if status is not None and status not in FINISHED_STATUSES:
        raise InvalidInput(f"invalid status {status!r}: use {', '.join(FINISHED_STATUSES)}")
    if helper is not None:
        check_name(helper)
    check_limit(limit)
    return HistoryQuery(
        helper=helper, status=status, since=parse_since(since) if since is not None else None, limit=limit
    )


def history(app: App, query: HistoryQuery) -> list[Execution]:
    """Finished executions, newest first (`history`, `GET /helpers/executions/history`)."""
    from queuectl.store import history as history_store

    cutoff = query.since.cutoff(app.clock.time()) if query.since is not None else None
    return app.guarded(
        lambda: history_store.query(
            app.client, helper=query.helper, status=query.status, finished_after=cutoff, limit=query.limit
        )
    )


def execution(app: App, execution_id: str) -> Execution:
    """One execution by id, queued, running or finished; UnknownExecution if there is none.
    A planned one without its hash (compact queue) is read from its queue entry."""
    return _execution_and_hash(app, execution_id)[0]


def _execution_and_hash(app: App, execution_id: str) -> tuple[Execution, dict[str, str]]:
    """The execution and its hash as stored ({} for a compact-layout queued one), read once."""
    from queuectl.domain import keys
    from queuectl.store.queue import load_queued
    from queuectl.store.replies import text_map

    split = split_execution_id(execution_id)
    if split is None or not keys.NAME_RE.match(split[0]):
        raise UnknownExecution(execution_id)
    pipe = app.client.pipeline(transaction=False)
    pipe.hgetall(keys.execution_key(execution_id))
    [reply] = app.guarded(lambda: pipe.execute(raise_on_error=False))  # a key of another type: no hash
    raw = text_map(reply) if isinstance(reply, dict) else {}
    if raw:
        return Execution.from_hash(execution_id, raw), raw
    score = app.guarded(lambda: app.client.zscore(keys.EXECUTION_QUEUE, execution_id))
    found = [] if score is None else app.guarded(lambda: load_queued(app.client, [(execution_id, float(score))]))
    if not found:
        raise UnknownExecution(execution_id)
    return found[0], {}


def overview(app: App) -> Overview:
    """What `top` shows, read now (`top` once a second, `GET /overview`): dispatchers and their
    load, running executions, the next due, the last outcomes, throughput and lateness."""
    from queuectl.store.overview import gather

    return app.guarded(lambda: gather(app.client, app.clock.time()))


def redis_check(app: App) -> dict[str, Any]:
    """The Redis configuration check (eviction policy, persistence) that `status` shows."""
    from queuectl.infra.redischeck import check

    return app.guarded(lambda: check(app.client))


def system_status(app: App, *, check: Callable[[App], dict[str, Any]] = redis_check) -> dict[str, Any]:
    """The design's status shape plus detail, the backend and the Redis check (`status --json`,
    `GET /helpers/status/system`). `check`: how to get the Redis check (a long-running server
    caches it: it does not change from one request to the next)."""
    from queuectl.store.status import summary

    data = app.guarded(lambda: summary(app.client, app.clock.time()))
    data["backend"] = app.backend
    data["redis"] = check(app)
    return data


@dataclass(frozen=True, kw_only=True)
class ExecutionDetail:
    """One execution's life (`executions show`, `GET /helpers/executions/{id}`): its record, its
    timeline, its earlier attempts; `data` is the JSON (the record's keys plus these)."""

    execution: Execution
    attempts: list[Execution]
    timeline: list[tuple[str, float]]
    lateness: float | None
    data: dict[str, Any]


def execution_detail(app: App, execution_id: str) -> ExecutionDetail:
    """The execution with its timeline (created, due, claimed, started, finished), lateness (start
    minus when it was due), and its earlier attempts (`<id>#<n>` in history)."""
    import math

    from queuectl.domain.models import iso
    from queuectl.store.queue import load_executions

    found, raw = _execution_and_hash(app, execution_id)
    earlier = [f"{execution_id}#{n}" for n in range(1, found.attempt)]
    attempts = app.guarded(lambda: load_executions(app.client, earlier))

    def num(field: str) -> float | None:
        try:
            return float(raw[field]) if raw.get(field) else None
        except ValueError:
            return None

    due = found.execution_time
    if found.trigger == "manual" and found.created_at is not None:
        due = max(due, found.created_at)  # due the instant it was asked for, not its whole second
    if found.attempt > 1 and found.retry_at is not None:
        due = max(due, float(math.ceil(found.retry_at)))
    events = [
        ("created", found.created_at),
        ("due", due),
        ("claimed", num("claimedAt")),
        ("started", found.started_at),
        ("finished", found.finished_at),
    ]
    timeline = [(name, at) for name, at in events if at is not None]
    lateness = round(found.started_at - due, 3) if found.started_at is not None else None
    data = found.to_json()
    data.update(
        {
            "timeline": [{"event": name, "at": iso(at)} for name, at in timeline],
            "lateness": lateness,
            "due_at": iso(due),
            "lease_until": iso(num("leaseUntil")),
            "retry_at": iso(found.retry_at),
            "request_reason": raw.get("requestReason") or None,
            "attempts": executions_json(attempts),
        }
    )
    return ExecutionDetail(execution=found, attempts=attempts, timeline=timeline, lateness=lateness, data=data)


@dataclass(frozen=True, kw_only=True)
class AuditQuery:
    """What to list of the audit trail, checked (before any Redis connection is opened)."""

    helper: str | None = None
    since: Since | None = None
    limit: int = 50


def audit_query(*, helper: str | None = None, since: str | None = None, limit: int = 50) -> AuditQuery:
    from queuectl.domain.timetext import parse_since
    from queuectl.store.catalog import check_name

    if helper is not None:
        check_name(helper)
    check_limit(limit)
    return AuditQuery(helper=helper, since=parse_since(since) if since is not None else None, limit=limit)


def audit(app: App, query: AuditQuery) -> list[AuditEntry]:
    """Operator changes, newest first (`audit`, `GET /audit`)."""
    from queuectl.store import audit as audit_store

    cutoff = query.since.cutoff(app.clock.time()) if query.since is not None else None
    return app.guarded(lambda: audit_store.query(app.client, helper=query.helper, since=cutoff, limit=query.limit))
