"""Read side of `internalExecutionQueue`: what is queued, in dispatch order. Reads only."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import keys
from .models import Execution

if TYPE_CHECKING:
    import redis


def load_executions(client: "redis.Redis", ids: list[str]) -> list[Execution]:
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


def show(client: "redis.Redis", *, limit: int = 50, helper: str | None = None) -> list[Execution]:
    """The next `limit` queued executions (optionally of one helper), earliest first."""
    if helper is None:
        ids = client.zrange(keys.EXECUTION_QUEUE, 0, max(limit, 1) - 1)
        return load_executions(client, ids)[:limit]
    found: list[Execution] = []
    start, page = 0, max(200, limit * 4)
    prefix = helper + ":"
    while len(found) < limit:
        ids = client.zrange(keys.EXECUTION_QUEUE, start, start + page - 1)
        if not ids:
            break
        mine = [i for i in ids if i.startswith(prefix) and i.rpartition(":")[0] == helper]
        found += load_executions(client, mine)
        start += page
    return found[:limit]


def count(client: "redis.Redis") -> int:
    return int(client.zcard(keys.EXECUTION_QUEUE))


def next_due_score(client: "redis.Redis") -> float | None:
    """Score of the earliest queued execution (time * 10 + priority), or None when empty."""
    head = client.zrange(keys.EXECUTION_QUEUE, 0, 0, withscores=True)
    return float(head[0][1]) if head else None


def score_time(score: float) -> float:
    """The execution time (Unix seconds) encoded in a queue score."""
    return float(int(score) // 10)
