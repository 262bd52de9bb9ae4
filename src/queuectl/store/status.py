"""The summary behind `queuectl status`: is a dispatcher alive, what is queued and running."""

from __future__ import annotations

import functools
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
    states = [_state(raw) for raw in helpers_raw]
    enabled, broken = states.count("enabled"), states.count("broken")
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


@functools.lru_cache(maxsize=8192)
def _state(raw: str | bytes) -> str:
    """One catalog entry: "enabled", "disabled" or "broken". Cached by the entry's text: a monitor
    polls status many times a second and the entries rarely change (parsing them all was a fifth
    of the time of a status read with 17 helpers)."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return "broken"
    if not isinstance(entry, dict) or entry.get("status") != "ok":
        return "broken"
    schedule = entry.get("schedule")
    if schedule is None:
        return "enabled"
    if not isinstance(schedule, dict):
        return "broken"
    return "enabled" if schedule.get("enabled", True) else "disabled"
