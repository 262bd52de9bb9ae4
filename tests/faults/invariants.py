"""The invariants I1-I6 of reliability.md, checked against Redis and the helpers' side-effect log.

Redis is read in ONE read-only Lua script (flags=no-writes), so the snapshot is atomic even while
dispatchers are running, and it still works when Redis is out of memory. The side-effect log is
what really ran: every fixture helper appends `start <id> <pid> <time>` when it begins and
`end <id> 0` when it returns (one O_APPEND write each, so lines never interleave); helpers that
fork also write `child <id> <pid>`, long-running ones `beat <id> <pid> <time>` every 0.1 s (proof
that a run was still alive at that time, used to find real overlaps).

`check_invariants` returns (figures, violations); `assert_invariants` raises on any violation and
returns the figures so tests and bench/soak.py can print them.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUEUE = "internalExecutionQueue"
HISTORY = "internalExecutionHistory"
RUNNING = "internalExecutionRunning"
RUNNING_HELPERS = "internalRunningHelpers"
PREFIX = "execution:"
TERMINAL = frozenset({"success", "error", "expired"})


# One atomic, read-only snapshot of everything the invariants look at.
def _snapshot_script(client) -> str:
    """The shebang (read-only flag, so it runs under OOM) exists from Redis 7; 6.2 runs a
    script under OOM anyway until it writes, and this one never does."""
    version = str(client.info("server").get("redis_version", "7"))
    if int(version.split(".")[0]) >= 7:
        return _SNAPSHOT_LUA
    return _SNAPSHOT_LUA.split("\n", 1)[1]


_SNAPSHOT_LUA = """#!lua flags=no-writes
local out = {}
for _, k in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do
  local t = redis.call('TYPE', k)['ok']
  local fields = {}
  if t == 'hash' then fields = redis.call('HGETALL', k) end
  out[#out + 1] = {k, t, fields}
end
local function z(key)
  if redis.call('TYPE', key)['ok'] ~= 'zset' then return {} end
  return redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
end
local rh = {}
if redis.call('TYPE', ARGV[5])['ok'] == 'hash' then rh = redis.call('HGETALL', ARGV[5]) end
return {out, z(ARGV[2]), z(ARGV[3]), z(ARGV[4]), rh}
"""


@dataclass(frozen=True)
class LogEntry:
    kind: str  # "start" | "end" | "child" | "beat"
    execution_id: str
    pid: int | None  # start/child lines
    at: float | None  # start and beat lines: time.time() in the helper
    line_no: int

    @property
    def helper(self) -> str:
        return self.execution_id.rpartition(":")[0]


def read_log(path: str | Path) -> list[LogEntry]:
    """Parse the side-effect log; unknown or torn lines are ignored."""
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return []
    out: list[LogEntry] = []
    for n, raw in enumerate(text.splitlines()):
        parts = raw.split()
        try:
            if len(parts) == 4 and parts[0] in ("start", "beat"):
                out.append(LogEntry(parts[0], parts[1], int(parts[2]), float(parts[3]), n))
            elif len(parts) == 3 and parts[0] == "end":
                out.append(LogEntry("end", parts[1], None, None, n))
            elif len(parts) == 3 and parts[0] == "child":
                out.append(LogEntry("child", parts[1], int(parts[2]), None, n))
        except ValueError:
            continue
    return out


def _pairs(flat: list[Any]) -> list[tuple[str, str]]:
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _num(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def snapshot(client: Any) -> dict[str, Any]:
    """Every execution key (type and fields), the three ZSETs and the running-helpers hash."""
    raw = client.eval(_snapshot_script(client), 0, PREFIX, QUEUE, RUNNING, HISTORY, RUNNING_HELPERS)
    keys, queue, running, history, running_helpers = raw

    def s(x: Any) -> str:
        return x.decode() if isinstance(x, bytes) else str(x)

    executions: dict[str, dict[str, str]] = {}
    wrongtype: dict[str, str] = {}
    for key, typ, fields in keys:
        key, typ = s(key), s(typ)
        eid = key[len(PREFIX) :]
        if typ == "hash":
            executions[eid] = {s(k): s(v) for k, v in _pairs(fields)}
        else:
            wrongtype[eid] = typ
    return {
        "executions": executions,
        "wrongtype": wrongtype,
        "queue": {s(m): s(sc) for m, sc in _pairs(queue)},
        "running": {s(m): s(sc) for m, sc in _pairs(running)},
        "history": {s(m): s(sc) for m, sc in _pairs(history)},
        "running_helpers": {s(k): s(v) for k, v in _pairs(running_helpers)},
    }


def terminal_states(client: Any) -> dict[str, tuple[str, str]]:
    """{id: (status, finishedAt)} of every terminal execution: pass it back as `before=` to check
    that no terminal state changes later (I4)."""
    snap = snapshot(client)
    return {
        eid: (h.get("status", ""), h.get("finishedAt", ""))
        for eid, h in snap["executions"].items()
        if h.get("status") in TERMINAL
    }


def check_invariants(
    client: Any,
    log_path: str | Path,
    now: float | None = None,
    lease: float = 2.0,
    reap_slack: float = 2.0,
    *,
    max_starts: int = 1,
    retries_ok: bool = False,
    ignore: Iterable[str] = (),
    lost_ok_before: float | None = None,
    dup_ok_before: float | None = None,
    before: dict[str, tuple[str, str]] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Check I1-I6; returns (figures, violations).

    - `now`: the instant to judge deadlines against (default: time.time()).
    - I3 deadline: executionTime + executionExpiry + lease + reap_slack < now. A `running`
      execution is judged by its lease instead (leaseUntil + reap_slack < now = stuck), since a
      long helper whose owner keeps renewing is legitimately running past its deadline.
    - `max_starts`: starts allowed per id (I2, default 1). `retries_ok`: allow one start per
      attempt (helpers with `retries`/`retry_on_abandon`), overlaps are still violations.
    - `ignore`: execution ids (or keys' ids) planted as bad data by the test; not judged.
    - `lost_ok_before`: starts logged before this time may have lost their hash (Redis data loss).
    - `dup_ok_before`: a second start is tolerated when the first one was logged before this time
      (after data loss the same occurrence is legitimately planned again).
    - `before`: terminal states from `terminal_states()`; none of them may have changed (I4).
    """
    now = time.time() if now is None else now
    ignored = set(ignore)
    snap = snapshot(client)
    log = read_log(log_path)
    violations: list[str] = []

    def bad(code: str, text: str) -> None:
        violations.append(f"{code}: {text}")

    executions: dict[str, dict[str, str]] = snap["executions"]
    queue, running, history = snap["queue"], snap["running"], snap["history"]
    base = {eid: h for eid, h in executions.items() if "#" not in eid and eid not in ignored}
    attempts = {eid: h for eid, h in executions.items() if "#" in eid and eid.split("#")[0] not in ignored}

    for eid, typ in snap["wrongtype"].items():
        if eid not in ignored:
            bad("I5", f"execution key of {eid} is a {typ}, not a hash")

    # ---- I1: one id per (helper, instant); the id is derived from its fields ----------------
    by_instant: dict[tuple[str, str], list[str]] = defaultdict(list)
    for eid, h in base.items():
        helper, t = h.get("helper") or eid.rpartition(":")[0], h.get("executionTime")
        by_instant[(str(helper), str(t))].append(eid)
        if helper is None or t is None or eid != f"{helper}:{t}":
            bad("I1", f"{eid}: id does not match helper={helper!r} executionTime={t!r}")
    for (helper, t), ids in by_instant.items():
        if len(ids) > 1:
            bad("I1", f"{len(ids)} ids for ({helper}, {t}): {sorted(ids)}")

    # ---- I2: starts per id, no overlap ---------------------------------------------------------
    starts: dict[str, list[LogEntry]] = defaultdict(list)
    ends: dict[str, list[LogEntry]] = defaultdict(list)
    last_beat: dict[tuple[str, int], float] = {}
    for entry in log:
        if entry.kind == "start":
            starts[entry.execution_id].append(entry)
        elif entry.kind == "end":
            ends[entry.execution_id].append(entry)
        elif entry.kind == "beat" and entry.pid is not None and entry.at is not None:
            key = (entry.execution_id, entry.pid)
            last_beat[key] = max(last_beat.get(key, 0.0), entry.at)
    duplicates: list[str] = []
    overlaps: list[str] = []
    for eid, ss in starts.items():
        if eid in ignored:
            continue
        allowed = max_starts
        if retries_ok:
            h = executions.get(eid, {})
            allowed = max(max_starts, int(_num(h.get("attempt")) or 1))
        if len(ss) > allowed:
            first = ss[0].at or 0.0
            if dup_ok_before is None or first >= dup_ok_before:
                duplicates.append(eid)
                bad("I2", f"{eid} started {len(ss)} times (allowed {allowed}) by pids {[s.pid for s in ss]}")
        # overlap: a later start while an earlier run was provably alive (it beat after it), or
        # had neither ended nor been finalised in Redis before it
        finals = sorted(_num(a.get("finishedAt")) or 0.0 for aid, a in attempts.items() if aid.split("#")[0] == eid)
        for prev, nxt in zip(ss, ss[1:]):
            ended = any(prev.line_no < e.line_no < nxt.line_no for e in ends.get(eid, []))
            finalised = any((prev.at or 0) <= f <= (nxt.at or 0) + 0.05 for f in finals)
            beat_after = last_beat.get((eid, prev.pid or 0), 0.0) - (nxt.at or 0)
            if beat_after > 0 and prev.pid != nxt.pid:  # one worker process runs one thing at a time
                if dup_ok_before is not None and (prev.at or 0) < dup_ok_before:
                    continue
                overlaps.append(eid)
                bad(
                    "I2",
                    f"{eid}: run by pid {prev.pid} was still alive {beat_after:.2f}s after pid {nxt.pid} "
                    f"started it again",
                )
            elif not ended and not finalised:
                if dup_ok_before is not None and (prev.at or 0) < dup_ok_before:
                    continue
                overlaps.append(eid)
                bad(
                    "I2",
                    f"{eid}: start by pid {nxt.pid} at {nxt.at:.3f} overlaps the run by pid {prev.pid} "
                    f"started at {prev.at:.3f} (no end, no recorded outcome in between)",
                )

    # ---- I3: old enough => exactly one terminal state ------------------------------------------
    stuck: list[str] = []
    old_enough = accounted = 0
    for eid, h in base.items():
        t, e = _num(h.get("executionTime")), _num(h.get("executionExpiry"))
        status = h.get("status")
        if t is None or e is None:
            bad("I3", f"{eid}: unreadable executionTime/executionExpiry {h}")
            continue
        deadline = t + e
        if status == "running":
            lease_until = _num(h.get("leaseUntil"))
            if lease_until is not None and lease_until + reap_slack < now:
                stuck.append(eid)
                bad("I3", f"{eid}: running with a lease that lapsed {now - lease_until:.1f}s ago (not reaped)")
            continue
        if deadline + lease + reap_slack >= now:
            continue
        old_enough += 1
        if status not in TERMINAL:
            stuck.append(eid)
            bad("I3", f"{eid}: {status} {now - deadline:.1f}s after its deadline")
            continue
        places = (eid in history) + (eid in queue) + (eid in running)
        if eid in history and places == 1:
            accounted += 1
        else:
            bad("I3", f"{eid}: {status} but in history={eid in history} queue={eid in queue} running={eid in running}")

    # ---- I4: history <-> terminal hashes; running has owner, token, lease; no terminal change --
    for eid in history:
        if eid.split("#")[0] in ignored:
            continue
        h = executions.get(eid)
        if h is None:
            bad("I4", f"history member {eid} has no hash")
        elif h.get("status") not in TERMINAL:
            bad("I4", f"history member {eid} has status {h.get('status')!r}")
    for eid, h in list(base.items()) + list(attempts.items()):
        status = h.get("status")
        if status in TERMINAL and eid not in history:
            bad("I4", f"{eid} is {status} but not in history")
        if status in TERMINAL and ("token" in h or "leaseUntil" in h):
            bad("I4", f"{eid} is {status} but still has a token/lease")
        if status == "running":
            missing = [f for f in ("dispatcher", "token", "leaseUntil") if not h.get(f)]
            if missing:
                bad("I4", f"{eid} is running without {missing}")
    changed = 0
    for eid, (status, finished) in (before or {}).items():
        h = executions.get(eid)
        if h is None:
            continue  # pruned or expired by TTL: not a transition
        if (h.get("status"), h.get("finishedAt", "")) != (status, finished):
            changed += 1
            bad(
                "I4",
                f"{eid} left its terminal state: was {status} at {finished}, now {h.get('status')} "
                f"at {h.get('finishedAt')}",
            )

    # ---- I5: index membership, no orphans ------------------------------------------------------
    for eid, score in queue.items():
        if eid in ignored:
            continue
        if _num(score) is None:
            bad("I5", f"queue member {eid} has a non-finite score {score}")
        h = executions.get(eid)
        if h is None and eid in snap["wrongtype"]:
            bad("I5", f"queue member {eid} has no hash (wrong type)")
        elif h is None:
            # a planned execution is its queue entry alone: `<helper>:<seconds>`, scored that
            # second * 10 + priority 1..5
            _helper, _, t = eid.rpartition(":")
            value = _num(score)
            if not t.isdigit() or value is None or int(value) // 10 != int(t) or not 1 <= int(value) % 10 <= 5:
                bad("I5", f"queue member {eid} has no hash and is not a well-formed planned execution ({score})")
        elif h.get("status") != "queued":
            bad("I5", f"queue member {eid} has status {h.get('status')!r}")
    for eid in running:
        if eid in ignored:
            continue
        h = executions.get(eid)
        if h is None or h.get("status") != "running":
            bad("I5", f"running-set member {eid} has status {None if h is None else h.get('status')!r}")
    orphans: list[str] = []
    for eid, h in base.items():
        status = h.get("status")
        home = {"queued": queue, "running": running}.get(status or "", history if status in TERMINAL else None)
        if home is None or eid not in home:
            orphans.append(eid)
            bad("I5", f"orphan hash {eid} (status {status!r}) outside queue/running/history")
    stale_markers = sum(
        1 for helper, eid in snap["running_helpers"].items() if executions.get(eid, {}).get("status") != "running"
    )

    # ---- I6: a logged start implies running/success/error; success implies an end ---------------
    lost: list[str] = []
    for eid, ss in starts.items():
        if eid in ignored:
            continue
        h = executions.get(eid)
        if h is None:
            if lost_ok_before is not None and all((s.at or 0) < lost_ok_before for s in ss):
                lost.append(eid)
                continue
            bad("I6", f"{eid} was started but has no hash")
            continue
        status = h.get("status")
        has_attempts = any(aid.split("#")[0] == eid for aid in attempts)
        if status in ("expired",) or (status == "queued" and not (retries_ok and has_attempts)):
            bad("I6", f"{eid} was started but is {status}")
    for eid, h in base.items():
        if h.get("status") == "success" and not ends.get(eid):
            bad("I6", f"{eid} is success without an `end` in the side-effect log")

    statuses = Counter(h.get("status") for h in base.values())
    reasons = Counter(h.get("reason") or "" for h in base.values() if h.get("status") == "error")
    figures: dict[str, Any] = {
        "executions": len(base),
        "attempt_records": len(attempts),
        "status": dict(statuses),
        "error_reasons": dict(reasons),
        "queued": len(queue),
        "running": len(running),
        "history": len(history),
        "starts": sum(len(v) for v in starts.values()),
        "ids_started": len(starts),
        "ends": sum(len(v) for v in ends.values()),
        "duplicates": len(duplicates),
        "overlaps": len(overlaps),
        "stuck": len(stuck),
        "orphans": len(orphans),
        "old_enough": old_enough,
        "accounted_pct": 100.0 if not old_enough else round(100.0 * accounted / old_enough, 2),
        "abandoned": reasons.get("abandoned", 0),
        "abandoned_ids": sorted(eid for eid, h in base.items() if h.get("reason") == "abandoned")[:20],
        "stale_running_markers": stale_markers,
        "lost_hashes": len(lost),
        "terminal_changed": changed,
        "violations": len(violations),
    }
    return figures, violations


def assert_invariants(
    client: Any,
    log_path: str | Path,
    now: float | None = None,
    lease: float = 2.0,
    reap_slack: float = 2.0,
    **options: Any,
) -> dict[str, Any]:
    """Check I1-I6 and raise AssertionError listing every violation; returns the figures."""
    figures, violations = check_invariants(client, log_path, now, lease, reap_slack, **options)
    if violations:
        shown = "\n  ".join(violations[:40])
        more = f"\n  ... and {len(violations) - 40} more" if len(violations) > 40 else ""
        raise AssertionError(f"{len(violations)} invariant violations:\n  {shown}{more}\nfigures: {figures}")
    return figures
