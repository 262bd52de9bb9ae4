"""The only place where Redis key names exist.

The first four names are fixed by the product's design so people can debug with `redis-cli`; the
rest are queuectl's own bookkeeping. Lua scripts get keys through KEYS and per-item prefixes
through ARGV from here, never hard-coded.
"""

from __future__ import annotations

import re

#: HASH, one field per helper; the value is JSON (effective schedule, code default, override, source).
AVAILABLE_HELPERS = "internalAvailableHelpers"
#: ZSET of queued execution ids, score = executionTime * 10 + priority (time first, then priority).
EXECUTION_QUEUE = "internalExecutionQueue"
#: ZSET of finished execution ids, score = finishedAt (Unix seconds, fractional).
EXECUTION_HISTORY = "internalExecutionHistory"
#: Prefix of the per-execution HASH: `execution:{executionId}`.
EXECUTION_PREFIX = "execution:"

#: ZSET of running execution ids, score = leaseUntil (Unix seconds); the reaper reads it.
RUNNING = "internalExecutionRunning"
#: HASH helper name -> id of its running execution; enforces "no overlap" inside the claim script.
RUNNING_HELPERS = "internalRunningHelpers"
#: ZSET of dispatcher ids, score = heartbeat expiry time; `status` reads it.
DISPATCHERS = "internalDispatchers"
#: Prefix of the per-dispatcher heartbeat HASH (with a TTL): `internalDispatcher:{id}`.
DISPATCHER_PREFIX = "internalDispatcher:"
#: STRING counter bumped by every catalog write, so dispatchers reload the catalog only on change.
CATALOG_VERSION = "internalCatalogVersion"
#: STRING every state-changing script writes first, so under OOM it fails before any change.
WRITE_PROBE = "internalWriteProbe"
#: STRING written once when queuectl first initialises a database; its loss means Redis lost data.
EPOCH = "internalEpoch"
#: HASH of cumulative outcome counters and histogram buckets, written by the scripts that end
#: executions (count_outcome in lua/_lib.lua) and read by `queuectl serve`'s /metrics.
METRICS = "internalMetrics"
#: STREAM of operator changes (enable, disable, update, reset, run, cancel): when, who, what, the
#: schedule before and after, why; capped at about 10,000 entries (XADD MAXLEN ~). Written by the
#: script that makes the change (catalog_put.lua, run.lua, cancel.lua), read by `queuectl audit`.
AUDIT = "internalAudit"
#: HASH helper name -> its latest audited change (small JSON), for `helpers show`.
LAST_CHANGE = "internalLastChange"
#: Prefix of a dispatcher's cancel requests, a HASH (with a TTL) `internalCancel:{dispatcherId}`:
#: execution id -> {"grace": s, "error": text}; cancel.lua writes it, that dispatcher reads it
#: once a tick while it runs something.
CANCEL_PREFIX = "internalCancel:"

#: A helper name: it is part of execution ids and so of keys (kept here, not in discovery, so
#: the read commands can check a name without importing the discovery machinery).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def execution_key(execution_id: str) -> str:
    """The hash key of one execution."""
    return EXECUTION_PREFIX + execution_id


def dispatcher_key(dispatcher_id: str) -> str:
    """The heartbeat hash key of one dispatcher."""
    return DISPATCHER_PREFIX + dispatcher_id


def execution_id(helper: str, epoch_seconds: int) -> str:
    """Deterministic id of the occurrence of `helper` at `epoch_seconds` (UTC).

    The same occurrence always gets the same id, so planning twice, or from two processes,
    cannot create a second execution.
    """
    return f"{helper}:{epoch_seconds}"


def cancel_key(dispatcher_id: str) -> str:
    """The cancel-request hash of one dispatcher."""
    return CANCEL_PREFIX + dispatcher_id
