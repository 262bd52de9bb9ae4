"""The origin document's four troubleshooting commands, run through redis-cli against a live
`queuectl run`, at every stage of an execution's life (queued, running, finished, expired,
disabled): they must agree with each other and with `queue show --json` / `history --json`.

    redis-cli HGETALL internalAvailableHelpers
    redis-cli ZRANGE internalExecutionQueue 0 -1 WITHSCORES
    redis-cli HGETALL execution:{executionId}
    redis-cli ZRANGE internalExecutionHistory 0 -1 WITHSCORES

The helpers are daily ones a few seconds ahead, so nothing else falls due while a stage is read.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

QUEUED_FIELDS = {"executionId", "helper", "executionTime", "executionExpiry", "priority", "status", "createdAt"}
CLAIM_FIELDS = {"startedAt", "dispatcher", "attempt"}
END_FIELDS = {"finishedAt", "error"}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def debug_view(e2e) -> dict[str, Any]:
    """What the four commands show: the catalog, the queue, the history and each hash."""
    catalog = e2e.redis_hash("internalAvailableHelpers")
    queue = e2e.redis_zset("internalExecutionQueue")
    history = e2e.redis_zset("internalExecutionHistory")
    hashes = {member: e2e.redis_hash(f"execution:{member}") for member, _ in queue + history}
    return {
        "catalog": {name: json.loads(value) for name, value in catalog.items()},
        "queue": queue,
        "history": history,
        "hashes": hashes,
    }


def check_agreement(e2e, view: dict[str, Any]) -> None:
    """The commands agree with each other, and with the CLI's --json reads."""
    hashes = view["hashes"]
    for member, score in view["queue"]:
        fields = hashes[member]
        helper, _, seconds = member.rpartition(":")
        assert set(fields) == QUEUED_FIELDS, (member, fields)
        assert fields["status"] == "queued" and fields["executionId"] == member and fields["helper"] == helper
        assert fields["executionTime"] == seconds
        assert score == int(fields["executionTime"]) * 10 + int(fields["priority"])  # time, then priority
        assert helper in view["catalog"] and view["catalog"][helper]["schedule"]["enabled"] is True
        assert int(fields["executionExpiry"]) == view["catalog"][helper]["expiry"]
    for member, score in view["history"]:
        fields = hashes[member]
        assert fields["status"] in ("success", "error", "expired"), (member, fields)
        assert QUEUED_FIELDS - {"createdAt"} <= set(fields) and END_FIELDS <= set(fields), (member, fields)
        assert float(fields["finishedAt"]) == pytest.approx(score, abs=0.01)
        if fields["status"] == "success":
            assert fields["error"] == ""
        if fields["status"] in ("success", "error"):
            assert CLAIM_FIELDS | {"duration"} <= set(fields)
            assert float(fields["duration"]) == pytest.approx(
                float(fields["finishedAt"]) - float(fields["startedAt"]), abs=0.01
            )
    assert not {m for m, _ in view["queue"]} & {m for m, _ in view["history"]}

    shown = e2e.qjson("queue", "show", "--limit", "1000")
    assert [row["execution_id"] for row in shown] == [member for member, _ in view["queue"]]
    for row in shown:
        fields = hashes[row["execution_id"]]
        assert row["status"] == fields["status"] == "queued"
        assert row["helper"] == fields["helper"]
        assert row["execution_time"] == iso(int(fields["executionTime"]))
        assert row["priority"] == int(fields["priority"]) and row["expiry"] == int(fields["executionExpiry"])
        assert row["created_at"] == iso(int(fields["createdAt"]))
    listed = {row["execution_id"]: row for row in e2e.history()}
    assert set(listed) == {member for member, _ in view["history"]}
    for member, row in listed.items():
        assert row["status"] == hashes[member]["status"]
        assert row["error"] == (hashes[member]["error"] or None)
    helpers = {row["name"]: row for row in e2e.qjson("helpers", "list")}
    assert set(helpers) == set(view["catalog"])
    for name, row in helpers.items():
        assert row["enabled"] == view["catalog"][name]["schedule"]["enabled"]


def test_the_four_debug_commands_agree_at_every_stage(e2e):
    t0 = int(time.time())
    hhmmss = lambda t: datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")  # noqa: E731
    soon = t0 + 12
    release = e2e.root / "release"
    late = t0 + 6
    e2e.helper("late", {"type": "daily", "time": hhmmss(late), "timezone": "UTC", "expiry": 1})
    e2e.helper(
        "gate",
        {"type": "daily", "time": hhmmss(soon), "timezone": "UTC", "expiry": 3600, "priority": 1},
        body=f"""
        deadline = time.time() + 60
        while not os.path.exists({str(release)!r}) and time.time() < deadline:
            time.sleep(0.05)
        """,
    )
    e2e.helper("quick", {"type": "daily", "time": hhmmss(soon), "timezone": "UTC", "expiry": 3600, "priority": 2})
    e2e.helper(
        "oops",
        {"type": "daily", "time": hhmmss(soon), "timezone": "UTC", "expiry": 3600},
        body="raise ValueError('boom')",
    )
    e2e.helper("checkIn", {"type": "daily", "time": hhmmss(t0 + 1800), "timezone": "UTC", "expiry": 600})

    # queued: planned by `helpers sync`, each execution has its hash from the start
    result = e2e.qctl("helpers", "sync")
    assert result.returncode == 0, result.stderr
    view = debug_view(e2e)
    assert [m for m, _ in view["queue"]] == [
        f"late:{late}",
        f"gate:{soon}",
        f"quick:{soon}",
        f"oops:{soon}",
        f"checkIn:{t0 + 1800}",
    ]
    assert view["history"] == []
    assert view["hashes"][f"gate:{soon}"]["priority"] == "1"
    check_agreement(e2e, view)

    # expired: `late` passed its deadline (late + 1 s) before any dispatcher could start it
    e2e.wait_until(lambda: time.time() > late + 2, timeout=15)
    proc = e2e.run_dispatcher("--concurrency", "4")
    e2e.wait_until(lambda: e2e.starts("gate"), timeout=20, proc=proc)
    e2e.wait_until(lambda: len(e2e.redis_zset("internalExecutionHistory")) == 3, timeout=20, proc=proc)

    # running and finished: gate runs (blocked on a file), quick succeeded, oops failed
    view = debug_view(e2e)
    assert [m for m, _ in view["queue"]] == [f"checkIn:{t0 + 1800}"]
    assert {m: view["hashes"][m]["status"] for m, _ in view["history"]} == {
        f"late:{late}": "expired",
        f"quick:{soon}": "success",
        f"oops:{soon}": "error",
    }
    assert view["hashes"][f"oops:{soon}"]["error"].startswith("ValueError: boom")
    assert "startedAt" not in view["hashes"][f"late:{late}"]  # it never started
    running = e2e.redis_hash(f"execution:gate:{soon}")
    assert running["status"] == "running" and running["attempt"] == "1"
    assert QUEUED_FIELDS | CLAIM_FIELDS <= set(running)
    assert running["dispatcher"] == e2e.qjson("status")["dispatchers"][0]["id"]
    check_agreement(e2e, view)

    release.write_text("go")
    e2e.wait_until(lambda: len(e2e.redis_zset("internalExecutionHistory")) == 4, timeout=20, proc=proc)
    view = debug_view(e2e)
    done = view["hashes"][f"gate:{soon}"]
    assert done["status"] == "success" and done["error"] == "" and float(done["duration"]) > 0
    check_agreement(e2e, view)

    # disabled: the queued execution and its hash are gone; history stays
    result = e2e.qctl("helpers", "disable", "checkIn")
    assert result.returncode == 0, result.stderr
    view = debug_view(e2e)
    assert view["queue"] == []
    assert e2e.redis_hash(f"execution:checkIn:{t0 + 1800}") == {}
    assert e2e.redis_cli("EXISTS", f"execution:checkIn:{t0 + 1800}").strip() == "0"
    assert len(view["history"]) == 4
    assert view["catalog"]["checkIn"]["schedule"]["enabled"] is False
    check_agreement(e2e, view)
    assert "Traceback" not in proc.stderr
