"""The documented Redis keys, read back with redis-cli after the real CLI wrote them."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.e2e


def test_sync_writes_the_documented_keys(e2e, daily_at):
    at_epoch = int(time.time()) + 3600
    at = daily_at(at_epoch)
    e2e.helper("weathery", {"type": "daily", "time": at, "timezone": "UTC", "priority": 1, "expiry": 1800})
    result = e2e.qctl("helpers", "sync")
    assert result.returncode == 0, result.stderr

    assert e2e.redis_cli("TYPE", "internalExecutionQueue").strip() == "zset"
    assert e2e.redis_cli("TYPE", "internalAvailableHelpers").strip() == "hash"

    entry = json.loads(e2e.redis_cli("--raw", "HGET", "internalAvailableHelpers", "weathery"))
    assert e2e.redis_cli("--raw", "HKEYS", "internalAvailableHelpers").split() == ["weathery"]  # the name
    assert entry["status"] == "ok"
    assert entry["schedule"]["type"] == "daily"
    assert entry["schedule"]["time"] == at
    assert entry["schedule"]["priority"] == 1
    assert entry["expiry"] == 1800  # what claim.lua reads for a planned execution

    members = e2e.redis_cli("--raw", "ZRANGE", "internalExecutionQueue", "0", "-1", "WITHSCORES").split()
    assert members == [f"weathery:{at_epoch}", str(at_epoch * 10 + 1)]

    # the execution's hash, from the moment it is planned
    fields = e2e.redis_hash(f"execution:weathery:{at_epoch}")
    assert abs(int(fields.pop("createdAt")) - time.time()) < 30  # whole Unix seconds
    assert fields == {
        "executionId": f"weathery:{at_epoch}",
        "helper": "weathery",
        "executionTime": str(at_epoch),
        "executionExpiry": "1800",
        "priority": "1",
        "status": "queued",
    }
    assert "Traceback" not in result.stderr


def test_the_compact_layout_writes_the_queue_entry_alone(e2e, daily_at):
    """compact_queue (opt-in): a planned execution is its queue entry alone; the hash comes
    with the claim. This is what it costs a redis-cli user: HGETALL shows nothing until then."""
    at_epoch = int(time.time()) + 3600
    e2e.helper("weathery", {"type": "daily", "time": daily_at(at_epoch), "timezone": "UTC", "priority": 1})
    result = e2e.qctl("helpers", "sync", env=e2e.env(QUEUECTL_COMPACT_QUEUE="1"))
    assert result.returncode == 0, result.stderr
    assert e2e.redis_zset("internalExecutionQueue") == [(f"weathery:{at_epoch}", at_epoch * 10 + 1)]
    assert e2e.redis_cli("EXISTS", f"execution:weathery:{at_epoch}").strip() == "0"
    [shown] = e2e.qjson("queue", "show")
    assert shown["execution_id"] == f"weathery:{at_epoch}" and shown["status"] == "queued"


def test_run_once_leaves_history_readable_by_redis_cli(e2e):
    e2e.helper("ping", {"type": "interval", "interval_seconds": 3600, "expiry": 3600, "priority": 2})
    result = e2e.qctl("run", "--once", "--concurrency", "1", timeout=20)
    assert result.returncode == 0, result.stderr
    [started] = e2e.starts("ping")
    execution_id = started.execution_id

    assert e2e.redis_cli("TYPE", "internalExecutionHistory").strip() == "zset"
    assert e2e.redis_cli("--raw", "ZRANGE", "internalExecutionHistory", "0", "-1").split() == [execution_id]
    fields = e2e.redis_hash(f"execution:{execution_id}")
    assert fields["status"] == "success"
    assert fields["helper"] == "ping"
    assert float(fields["startedAt"]) <= float(fields["finishedAt"])
    assert abs(float(fields["startedAt"]) - started.at) < 1
    assert "token" not in fields and "leaseUntil" not in fields
    score = float(e2e.redis_cli("--raw", "ZSCORE", "internalExecutionHistory", execution_id))
    assert abs(score - float(fields["finishedAt"])) < 0.01
    # the next occurrence is queued, the finished one is not
    queued = e2e.redis_cli("--raw", "ZRANGE", "internalExecutionQueue", "0", "-1").split()
    assert execution_id not in queued
    assert queued and all(m.startswith("ping:") for m in queued)
    assert e2e.redis_cli("ZCARD", "internalExecutionRunning").strip() in ("0", "(integer) 0")
