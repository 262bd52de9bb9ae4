"""Read side of `internalExecutionHistory` (newest first) and its pruning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuectl.domain import keys
from queuectl.domain.models import Execution
from queuectl.store.queue import load_executions
from queuectl.store.replies import texts

if TYPE_CHECKING:
    import redis

    from queuectl.store.scripts import Scripts


def query(
    client: redis.Redis,
    *,
    helper: str | None = None,
    status: str | None = None,
    finished_after: float | None = None,
    limit: int = 50,
) -> list[Execution]:
    """Finished executions, newest first, filtered by helper, status and finish time."""
    low: float | str = finished_after if finished_after is not None else "-inf"
    found: list[Execution] = []
    offset, page = 0, max(100, limit * 2)
    while len(found) < limit:
        ids = texts(client.zrevrangebyscore(keys.EXECUTION_HISTORY, "+inf", low, start=offset, num=page))
        if not ids:
            break
        offset += len(ids)
        if helper is not None:
            ids = [i for i in ids if i.rpartition(":")[0] == helper]
        for execution in load_executions(client, ids):
            if status is None or execution.status == status:
                found.append(execution)
    return found[:limit]


def prune(scripts: Scripts, *, now: float, history_ttl: float, max_batches: int = 1000) -> int:
    """Drop history older than `history_ttl` with its hashes, in bounded batches."""
    removed = 0
    for _ in range(max_batches):
        n = scripts.prune(cutoff=now - history_ttl)
        removed += n
        if n == 0:
            break
    return removed


def count(client: redis.Redis) -> int:
    return int(client.zcard(keys.EXECUTION_HISTORY))
