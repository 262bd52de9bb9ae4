"""The summary behind `queuectl status`: is a dispatcher alive, what is queued and running."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.models import iso

if TYPE_CHECKING:
    import redis


def live_dispatchers(client: "redis.Redis", now: float) -> list[dict[str, Any]]:
    """Dispatchers whose heartbeat has not lapsed, with what they last reported."""
    ids = client.zrangebyscore(keys.DISPATCHERS, now, "+inf")
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for dispatcher_id in ids:
        pipe.hgetall(keys.dispatcher_key(dispatcher_id))
    out = []
    for dispatcher_id, data in zip(ids, pipe.execute(raise_on_error=False)):
        if not isinstance(data, dict) or not data:
            continue
        out.append({
            "id": dispatcher_id,
            "host": data.get("host"),
            "pid": int(data.get("pid") or 0),
            "started_at": iso(float(data["startedAt"])) if data.get("startedAt") else None,
            "last_beat": iso(float(data["beat"])) if data.get("beat") else None,
            "running": int(data.get("running") or 0),
            "concurrency": int(data.get("concurrency") or 0),
        })
    return out


def summary(client: "redis.Redis", now: float) -> dict[str, Any]:
    """The design's status shape, plus detail under extra keys."""
    pipe = client.pipeline(transaction=False)
    pipe.hvals(keys.AVAILABLE_HELPERS)
    pipe.zcard(keys.EXECUTION_QUEUE)
    pipe.zcard(keys.RUNNING)
    pipe.zcard(keys.EXECUTION_HISTORY)
    pipe.zrange(keys.EXECUTION_QUEUE, 0, 0, withscores=True)
    helpers_raw, queued, running, history, head = pipe.execute()
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
    dispatchers = live_dispatchers(client, now)
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
        "next_execution_time": iso(float(int(head[0][1]) // 10)) if head else None,
        "dispatchers": dispatchers,
    }
