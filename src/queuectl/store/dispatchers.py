"""The live dispatchers: each writes a heartbeat (a hash with a TTL, indexed by expiry in a ZSET),
and `status` reads the ones whose heartbeat has not lapsed. Both sides of the keys are here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.models import format_time, iso
from queuectl.store.replies import texts

if TYPE_CHECKING:
    import redis

#: A dead dispatcher's index entry is dropped this long after its heartbeat lapsed (seconds).
FORGET_AFTER = 86400


@dataclass(frozen=True, kw_only=True)
class Heartbeat:
    """What one dispatcher says about itself."""

    dispatcher_id: str
    host: str
    pid: int
    version: str
    started_at: float
    running: int
    concurrency: int


def beat(client: redis.Redis, heartbeat: Heartbeat, *, now: float, ttl: float) -> None:
    """Write the heartbeat, alive until `now + ttl`, in one transaction."""
    key = keys.dispatcher_key(heartbeat.dispatcher_id)
    pipe = client.pipeline(transaction=True)
    pipe.hset(
        key,
        mapping={
            "id": heartbeat.dispatcher_id,
            "host": heartbeat.host,
            "pid": heartbeat.pid,
            "version": heartbeat.version,
            "startedAt": format_time(heartbeat.started_at),
            "beat": format_time(now),
            "running": heartbeat.running,
            "concurrency": heartbeat.concurrency,
        },
    )
    pipe.expire(key, int(ttl) + 1)
    pipe.zadd(keys.DISPATCHERS, {heartbeat.dispatcher_id: now + ttl})
    pipe.zremrangebyscore(keys.DISPATCHERS, "-inf", now - FORGET_AFTER)
    pipe.execute()


def deregister(client: redis.Redis, dispatcher_id: str) -> None:
    """Remove a stopping dispatcher's heartbeat at once (`status` stops showing it)."""
    pipe = client.pipeline(transaction=True)
    pipe.zrem(keys.DISPATCHERS, dispatcher_id)
    pipe.delete(keys.dispatcher_key(dispatcher_id))
    pipe.execute()


def live(client: redis.Redis, now: float) -> list[dict[str, Any]]:
    """Dispatchers whose heartbeat has not lapsed, with what they last reported."""
    return details(client, texts(client.zrangebyscore(keys.DISPATCHERS, now, "+inf")))


def details(client: redis.Redis, ids: list[str]) -> list[dict[str, Any]]:
    """What the dispatchers `ids` last reported, in one round trip (none when `ids` is empty:
    `status` reads the ids in its own pipeline)."""
    if not ids:
        return []
    pipe = client.pipeline(transaction=False)
    for dispatcher_id in ids:
        pipe.hgetall(keys.dispatcher_key(dispatcher_id))
    found = (heartbeat_json(i, data) for i, data in zip(ids, pipe.execute(raise_on_error=False)))
    return [d for d in found if d is not None]


def heartbeat_json(dispatcher_id: str, data: Any) -> dict[str, Any] | None:
    """One heartbeat hash as `status` shows it (None when the hash is gone or not a hash)."""
    if not isinstance(data, dict) or not data:
        return None
    return {
        "id": dispatcher_id,
        "host": data.get("host"),
        "pid": int(data.get("pid") or 0),
        "started_at": iso(float(data["startedAt"])) if data.get("startedAt") else None,
        "last_beat": iso(float(data["beat"])) if data.get("beat") else None,
        "running": int(data.get("running") or 0),
        "concurrency": int(data.get("concurrency") or 0),
    }
