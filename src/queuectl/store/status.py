"""The summary behind `queuectl status`: is a dispatcher alive, what is queued and running."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.models import iso
from queuectl.domain.score import score_time
from queuectl.store.dispatchers import details
from queuectl.store.replies import texts

if TYPE_CHECKING:
    import redis


def summary(client: redis.Redis, now: float) -> dict[str, Any]:
    """The design's status shape, plus detail under extra keys."""
    pipe = client.pipeline(transaction=False)
    pipe.hvals(keys.AVAILABLE_HELPERS)
    pipe.zcard(keys.EXECUTION_QUEUE)
    pipe.zcard(keys.RUNNING)
    pipe.zcard(keys.EXECUTION_HISTORY)
    pipe.zrange(keys.EXECUTION_QUEUE, 0, 0, withscores=True)
    pipe.zrangebyscore(keys.DISPATCHERS, now, "+inf")  # the live ones (dispatchers.live)
    helpers_raw, queued, running, history, head, alive_ids = pipe.execute()
    enabled = broken = 0
    for raw in helpers_raw:
        try:
            entry = json.loads(raw)
        except ValueError:
            broken += 1
            continue
        if not isinstance(entry, dict) or entry.get("status") != "ok":
            broken += 1
        elif (entry.get("schedule") or {}).get("enabled", True):
            enabled += 1
    dispatchers = details(client, texts(alive_ids))
    alive = bool(dispatchers)
    return {
        "system_status": "running" if alive else "stopped",
        "available_helpers": len(helpers_raw),
        "total_queued_executions": int(queued),
        "dispatcher": {
            "registered_helpers": len(helpers_raw),
            "running_executions": int(running),
            "dispatcher_running": alive,
        },
        "timestamp": iso(now),
        "enabled_helpers": enabled,
        "broken_helpers": broken,
        "history_executions": int(history),
        "next_execution_time": iso(score_time(head[0][1])) if head else None,
        "dispatchers": dispatchers,
    }
