"""Read side of `internalExecutionQueue`: what is queued, in dispatch order. Reads only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.domain import keys
from queuectl.domain.models import Execution, ExecutionStatus
from queuectl.domain.score import decode_score
from queuectl.store.replies import maybe_text, scored

if TYPE_CHECKING:
    import redis

    from queuectl.store.scripts import Scripts


def load_executions(client: redis.Redis, ids: list[str]) -> list[Execution]:
    """The hashes of `ids`, in order, in one round trip; ids without a hash are skipped."""
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for execution_id in ids:
        pipe.hgetall(keys.execution_key(execution_id))
    rows = pipe.execute(raise_on_error=False)
    return [
        Execution.from_hash(execution_id, data)
        for execution_id, data in zip(ids, rows)
        if isinstance(data, dict) and data
    ]


def load_queued(client: redis.Redis, members: list[tuple[str, float]]) -> list[Execution]:
    """Queued executions from their queue entries (id, score), in order, in one round trip.

    A planned execution is its queue entry alone until it is claimed (plan.lua): its helper and
    time are the id's, its priority the score's, its expiry its helper's schedule in force,
    which is what claim.lua uses too. A released or retried one has its own hash."""
    if not members:
        return []
    helpers = sorted({execution_id.rpartition(":")[0] for execution_id, _ in members})
    pipe = client.pipeline(transaction=False)
    pipe.hmget(keys.AVAILABLE_HELPERS, helpers)
    for execution_id, _ in members:
        pipe.hgetall(keys.execution_key(execution_id))
    entries, *rows = pipe.execute(raise_on_error=False)
    expiry = _expiries(helpers, entries if isinstance(entries, list) else [])
    found = [
        (execution_id, score, data if isinstance(data, dict) else None)
        for (execution_id, score), data in zip(members, rows)
    ]
    return _executions(found, expiry)


def _executions(found: list[tuple[str, float, dict[str, str] | None]], expiry: dict[str, int]) -> list[Execution]:
    """(id, score, hash) as executions: from the hash, or from the entry when it has none ({});
    a key that is not a hash (None) is skipped."""
    out = []
    for execution_id, score, data in found:
        if data:
            out.append(Execution.from_hash(execution_id, data))
        elif data is not None:
            try:
                execution_time, priority = decode_score(score)
            except ValueError:
                continue  # a score queuectl never writes: the claim quarantines it
            helper = execution_id.rpartition(":")[0]
            out.append(
                Execution(
                    execution_id=execution_id,
                    helper=helper,
                    execution_time=float(execution_time),
                    expiry=expiry.get(helper, 0),
                    priority=priority,
                    status=ExecutionStatus.QUEUED.value,
                )
            )
    return out


def head(client: redis.Redis, scripts: Scripts, limit: int) -> list[Execution]:
    """The first `limit` queued executions, earliest first: one round trip when every one has
    its hash (the documented layout), two when some have none (their expiry is their helper's)."""
    found = scripts.queue_head(max(limit, 1))[:limit]
    bare = sorted({i.rpartition(":")[0] for i, _, data in found if data == {}})
    expiry = _expiries(bare, [maybe_text(v) for v in client.hmget(keys.AVAILABLE_HELPERS, bare)]) if bare else {}
    return _executions(found, expiry)


def _expiries(helpers: list[str], entries: list[str | None]) -> dict[str, int]:
    """Each helper's expiry in force, read from its catalog entry's fields as claim.lua reads
    them (0 when it has none): the entry's `expiry`, else its schedule's."""
    import json

    out = {}
    for helper, raw in zip(helpers, entries):
        try:
            entry = json.loads(raw) if raw else None
        except ValueError:
            entry = None
        value = entry.get("expiry") if isinstance(entry, dict) else None
        if value is None and isinstance(entry, dict) and isinstance(entry.get("schedule"), dict):
            value = entry["schedule"].get("expiry")
        out[helper] = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return out


def show(
    client: redis.Redis, *, limit: int = 50, helper: str | None = None, scripts: Scripts | None = None
) -> list[Execution]:
    """The next `limit` queued executions (optionally of one helper), earliest first. With
    `scripts`, the queue's head is read in one round trip (`head`)."""
    if helper is None and scripts is not None:
        return head(client, scripts, limit)
    if helper is None:
        members = scored(client.zrange(keys.EXECUTION_QUEUE, 0, max(limit, 1) - 1, withscores=True))
        return load_queued(client, members)[:limit]
    found: list[Execution] = []
    start, page = 0, max(200, limit * 4)
    prefix = helper + ":"
    while len(found) < limit:
        members = scored(client.zrange(keys.EXECUTION_QUEUE, start, start + page - 1, withscores=True))
        if not members:
            break
        mine = [(i, score) for i, score in members if i.startswith(prefix) and i.rpartition(":")[0] == helper]
        found += load_queued(client, mine)
        start += page
    return found[:limit]


def count(client: redis.Redis) -> int:
    return int(client.zcard(keys.EXECUTION_QUEUE))
