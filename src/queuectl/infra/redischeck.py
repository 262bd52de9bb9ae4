"""Checks that the Redis in use keeps queuectl's data safe (reliability R11).

`allkeys-lru` and friends silently evict the queue and execution hashes; a server without
persistence loses everything on restart. `status` shows these warnings and `run` logs them at
start-up. An ACL user without CONFIG rights gets a warning, not a failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis


def check(client: redis.Redis) -> dict[str, Any]:
    """Redis version, eviction policy, persistence, and warnings about them."""
    from redis.exceptions import ResponseError as refused

    out: dict[str, Any] = {"warnings": []}
    warnings: list[str] = out["warnings"]
    try:
        server = client.info("server")
        out["redis_version"] = server.get("redis_version")
    except refused:
        out["redis_version"] = None
    try:
        conf = client.config_get("maxmemory-policy")
        conf.update(client.config_get("appendonly"))
        conf.update(client.config_get("save"))
    except refused as exc:
        warnings.append(
            f"cannot read the Redis configuration ({str(exc).splitlines()[0]}); "
            "check maxmemory-policy=noeviction and persistence by hand"
        )
        return out
    policy = conf.get("maxmemory-policy")
    out["maxmemory_policy"] = policy
    out["appendonly"] = conf.get("appendonly")
    out["save"] = conf.get("save")
    if policy and policy != "noeviction":
        warnings.append(
            f"maxmemory-policy is {policy}: Redis may silently evict queued executions and history; "
            "set it to noeviction"
        )
    if conf.get("appendonly") != "yes" and not conf.get("save"):
        warnings.append(
            "Redis has no persistence (appendonly no, no save points): a restart loses the catalog, "
            "operator overrides, the queue and history"
        )
    return out
