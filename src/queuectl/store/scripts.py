"""Loads the Lua scripts (one file each, with `_lib.lua` prepended) and wraps them in typed calls.

Every state transition of an execution is one of these scripts, so it is atomic. Scripts get
their keys from `keys.py`; redis-py's Script object handles NOSCRIPT itself, so no SHA cache of
our own is kept beyond the registered objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.ids import split_execution_id
from queuectl.domain.models import format_time

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

#: Due queue members one claim or expiry call looks at, at most: bounds how long a script
#: blocks Redis.
SCAN_MAX = 1000
#: Scripts that get the write probe as their last key (see _lib.lua write_probe).
PROBED = frozenset({"plan", "claim", "release", "finish", "reap", "expire", "run", "cancel"})
#: Scripts that end executions and count them (internalMetrics), given that hash as the key
#: before the write probe (see _lib.lua count_outcome).
METERED = frozenset({"claim", "finish", "reap", "expire", "cancel"})
SCRIPT_NAMES = (
    "plan",
    "claim",
    "release",
    "finish",
    "renew",
    "reap",
    "expire",
    "unplan",
    "prune",
    "catalog_put",
    "queue_head",
    "run",
    "cancel",
)


@cache
def script_source(name: str) -> str:
    """The full text sent to Redis: the shared library followed by the script."""
    lua = resources.files("queuectl.store") / "lua"
    return (lua / "_lib.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


class Scripts:
    """The registered scripts for one client (registration sends nothing to Redis)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._scripts: dict[str, Script] = {name: client.register_script(script_source(name)) for name in SCRIPT_NAMES}

    def _run(self, name: str, keys_: Sequence[str], args: Sequence[Any], client: Any = None) -> Any:
        extra = [keys.METRICS] if name in METERED else []
        if name in PROBED:
            extra.append(keys.WRITE_PROBE)
        all_keys = list(keys_) + extra
        if client is not None:
            # queued in a pipeline as a bare EVALSHA: redis-py's own way asks SCRIPT EXISTS first,
            # one more round trip on every execute; a NOSCRIPT reply is handled by the caller
            script = self._scripts[name]
            return client.evalsha(script.sha, len(all_keys), *all_keys, *args)
        return self._scripts[name](keys=all_keys, args=list(args), client=self.client)

    # -- planning -------------------------------------------------------------------------
    def plan(self, now: str, groups: Sequence[PlanGroup], *, write_hashes: bool = True) -> tuple[int, int, int]:
        """Queue the groups' occurrences; with `write_hashes` (the documented layout) each gets
        its `execution:{id}` hash too, else its queue entry alone (the compact layout)."""
        args: list[Any] = [keys.EXECUTION_PREFIX, now, "1" if write_hashes else "0"]
        for g in groups:
            args += [g.helper, g.rev, len(g.occurrences)]
            for t, _expiry, priority in g.occurrences:
                args += [t, priority]
        created, existing, stale = self._run("plan", [keys.AVAILABLE_HELPERS, keys.EXECUTION_QUEUE], args)
        return int(created), int(existing), int(stale)

    def unplan(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return int(self._run("unplan", [keys.EXECUTION_QUEUE], [keys.EXECUTION_PREFIX, *ids]))

    # -- dispatching ----------------------------------------------------------------------
    def claim(self, request: ClaimRequest) -> ClaimResult:
        """Claim up to `limit` executions due by `upto` (default `now`), expiring on the way."""
        return self._claim_result(self._run_claim(request, None), request.token_prefix)

    def _run_claim(self, request: ClaimRequest, client: Any) -> Any:
        r = request
        return self._run(
            "claim",
            [keys.EXECUTION_QUEUE, keys.RUNNING, keys.RUNNING_HELPERS, keys.EXECUTION_HISTORY, keys.AVAILABLE_HELPERS],
            [
                keys.EXECUTION_PREFIX,
                r.now,
                r.limit,
                r.owner,
                r.lease_until,
                r.token_prefix,
                r.scan,
                r.keep,
                r.upto or r.now,
                *r.skip,
            ],
            client,
        )

    def _claim_result(self, reply: Any, token_prefix: str) -> ClaimResult:
        """The reply holds what the caller cannot work out: the helper and the time are the id's
        (`<helper>:<seconds>`), the n-th claim's token is `<token prefix>:<n>`."""
        claimed, expired, anomalies, looked, head = reply
        rows = []
        for n, i in enumerate(range(0, len(claimed), 5), start=1):
            execution_id = claimed[i]
            helper, _, seconds = execution_id.rpartition(":")
            if not seconds.isdigit():  # a manual run's id: `<helper>:manual-<ms>-<hex>`
                split = split_execution_id(execution_id)
                seconds = str(split[1]) if split is not None else "0"
            rows.append(
                Claimed(
                    execution_id=execution_id,
                    helper=helper,
                    execution_time=_int(seconds),
                    attempt=_int(claimed[i + 1]),
                    token=f"{token_prefix}:{n}",
                    priority=_int(claimed[i + 2]),
                    expiry=_int(claimed[i + 3]),
                    due=_int(claimed[i + 4]),
                )
            )
        try:
            head_score = float(head) if head else None
        except ValueError:
            head_score = None
        return ClaimResult(
            claimed=rows, expired=int(expired), anomalies=_pairs(anomalies), looked=int(looked), head_score=head_score
        )

    def release(self, execution_id: str, token: str) -> bool:
        """Put a claimed execution back in the queue (fenced by its token)."""
        return bool(
            self._run(
                "release",
                [keys.EXECUTION_QUEUE, keys.RUNNING, keys.RUNNING_HELPERS],
                [keys.EXECUTION_PREFIX, execution_id, token],
            )
        )

    def finish_and_claim(
        self, *, now: str, keep: int, outcomes: Sequence[Outcome], claim: ClaimRequest
    ) -> tuple[list[int] | Exception, ClaimResult | Exception]:
        """Write outcomes and claim more in one round trip (two scripts in one pipeline). Each
        part succeeds or fails on its own: a part that failed is its exception, so the caller
        keeps unwritten outcomes and raises."""
        if not outcomes:
            return [], self.claim(claim)
        import redis.exceptions as rexc

        pipe = self.client.pipeline(transaction=False)
        self.finish(now=now, keep=keep, outcomes=outcomes, client=pipe)
        self._run_claim(claim, pipe)
        finished, claimed = pipe.execute(raise_on_error=False)
        written: list[int] | Exception = finished if isinstance(finished, Exception) else [int(x) for x in finished]
        result: ClaimResult | Exception = (
            claimed if isinstance(claimed, Exception) else self._claim_result(claimed, claim.token_prefix)
        )
        # NOSCRIPT means that script did not run (the other one did): run it again on its own,
        # where redis-py loads it first
        if isinstance(written, rexc.NoScriptError):
            written = _or_error(lambda: self.finish(now=now, keep=keep, outcomes=outcomes))
        if isinstance(result, rexc.NoScriptError):
            result = _or_error(lambda: self.claim(claim))
        return written, result

    def finish(self, *, now: str, keep: int, outcomes: Sequence[Outcome], client: Any = None) -> list[int]:
        if not outcomes:
            return []
        args: list[Any] = [keys.EXECUTION_PREFIX, now, keep]
        for o in outcomes:
            args += [
                o.execution_id,
                o.token,
                o.status,
                o.error or "",
                o.reason or "",
                format_time(o.retry_at) if o.retry_at is not None else "",
                format_time(o.started) if o.started is not None else "",
            ]
        result = self._run(
            "finish", [keys.RUNNING, keys.RUNNING_HELPERS, keys.EXECUTION_HISTORY, keys.EXECUTION_QUEUE], args, client
        )
        if client is not None:
            return []
        return [int(x) for x in result]

    def renew(self, *, lease_until: str, owned: Sequence[tuple[str, str]]) -> list[str]:
        if not owned:
            return []
        args: list[Any] = [keys.EXECUTION_PREFIX, lease_until]
        for execution_id, token in owned:
            args += [execution_id, token]
        return list(self._run("renew", [keys.RUNNING], args))

    def reap(self, *, now: str, keep: int, limit: int = 200) -> tuple[list[str], int, list[str]]:
        """(reaped as abandoned, stale index entries dropped, re-queued by retry_on_abandon)."""
        reaped, dropped, requeued = self._run(
            "reap",
            [keys.RUNNING, keys.RUNNING_HELPERS, keys.EXECUTION_HISTORY, keys.EXECUTION_QUEUE, keys.AVAILABLE_HELPERS],
            [keys.EXECUTION_PREFIX, now, keep, limit],
        )
        return list(reaped), int(dropped), list(requeued)

    def expire(
        self, *, now: str, keep: int, offset: int, limit: int, upto: float | None = None
    ) -> tuple[int, int, int, list[tuple[str, str]]]:
        """Expire past-deadline queued executions among those due by `upto` (default now)."""
        expired, looked, kept, anomalies = self._run(
            "expire",
            [keys.EXECUTION_QUEUE, keys.EXECUTION_HISTORY, keys.AVAILABLE_HELPERS],
            [keys.EXECUTION_PREFIX, now, keep, offset, limit, format_time(upto) if upto is not None else now],
        )
        return int(expired), int(looked), int(kept), _pairs(anomalies)

    def prune(self, *, cutoff: float, limit: int = 500) -> int:
        return int(self._run("prune", [keys.EXECUTION_HISTORY], [keys.EXECUTION_PREFIX, repr(cutoff), limit]))

    # -- catalog --------------------------------------------------------------------------
    def catalog_put(self, entries: Sequence[tuple[str, str, str]], audit: Sequence[str] = ()) -> list[str]:
        """Write (name, expected_rev, json) triples; return the names whose revision moved.
        `audit`: the operator's change to record when every entry was written (record_change in
        _lib.lua: maxlen, helper, last-change JSON, then the entry's fields)."""
        if not entries:
            return []
        args: list[Any] = [len(audit), *audit]
        for name, expected, value in entries:
            args += [name, expected, value]
        return list(
            self._run("catalog_put", [keys.AVAILABLE_HELPERS, keys.CATALOG_VERSION, keys.AUDIT, keys.LAST_CHANGE], args)
        )

    # -- operator actions -----------------------------------------------------------------
    def run(
        self,
        *,
        now: str,
        execution_id: str,
        helper: str,
        execution_time: int,
        priority: int | None,
        requested_by: str,
        reason: str | None,
        audit: Sequence[str],
    ) -> tuple[str, Any]:
        """Queue a manual execution due now (run.lua): ('ok', (priority, expiry)) or (refusal, detail)."""
        reply = self._run(
            "run",
            [keys.AVAILABLE_HELPERS, keys.EXECUTION_QUEUE, keys.AUDIT, keys.LAST_CHANGE],
            [
                keys.EXECUTION_PREFIX,
                now,
                execution_id,
                helper,
                execution_time,
                "" if priority is None else priority,
                requested_by,
                reason or "",
                *audit,
            ],
        )
        if reply[0] == "ok":
            return "ok", (int(reply[1]), int(reply[2]))
        return str(reply[0]), str(reply[1])

    def cancel(
        self,
        *,
        now: str,
        keep: int,
        execution_id: str,
        error: str,
        request: str,
        request_ttl: int,
        audit: Sequence[str],
    ) -> tuple[str, str]:
        """Cancel a queued execution, or ask the owner of a running one to stop it (cancel.lua):
        ('cancelled' | 'requested' | 'finished' | 'unknown' | 'unreadable', detail)."""
        outcome, detail = self._run(
            "cancel",
            [keys.EXECUTION_QUEUE, keys.EXECUTION_HISTORY, keys.AVAILABLE_HELPERS, keys.AUDIT, keys.LAST_CHANGE],
            [
                keys.EXECUTION_PREFIX,
                now,
                keep,
                execution_id,
                error,
                keys.CANCEL_PREFIX,
                request,
                request_ttl,
                *audit,
            ],
        )
        return str(outcome), str(detail)

    # -- reads ----------------------------------------------------------------------------
    def queue_head(self, limit: int) -> list[tuple[str, float, dict[str, str] | None]]:
        """The first `limit` queue members in dispatch order, each with its hash ({} when a
        planned execution has none, None when its key is not a hash), in one round trip."""
        reply = self._run("queue_head", [keys.EXECUTION_QUEUE], [limit, keys.EXECUTION_PREFIX])
        out: list[tuple[str, float, dict[str, str] | None]] = []
        for i in range(0, len(reply) - 2, 3):
            fields = reply[i + 2]
            data = None
            if isinstance(fields, list):
                if fields and isinstance(fields[0], bytes):  # a client that does not decode
                    fields = [_text(f) for f in fields]
                data = dict(zip(fields[::2], fields[1::2]))
            out.append((_text(reply[i]), float(reply[i + 1]), data))
        return out


@dataclass(frozen=True, kw_only=True)
class PlanGroup:
    helper: str
    rev: str
    #: (executionTime, executionExpiry, priority): the planner picks occurrences by their expiry;
    #: plan.lua takes the time and priority (a planned execution's expiry is its helper's)
    occurrences: list[tuple[int, int, int]]


@dataclass(frozen=True, kw_only=True)
class ClaimRequest:
    """What one claim.lua call is asked (times as stored text)."""

    now: str
    limit: int  # free slots
    owner: str  # the dispatcher's id
    lease_until: str
    token_prefix: str  # unique per call: the n-th claim's token is `<prefix>:<n>`
    scan: int  # due queue members to look at, at most
    keep: int  # seconds finished hashes are kept
    upto: str | None = None  # claim what is due by then (a few ms ahead of now); None: now
    skip: Sequence[str] = ()  # helpers this dispatcher cannot run


@dataclass(kw_only=True, slots=True)  # not frozen: one per claim, and a frozen __init__ costs twice as much
class Claimed:
    execution_id: str
    helper: str
    execution_time: int
    attempt: int
    token: str
    priority: int
    expiry: int
    due: int = 0  # the second its queue score says it is due (a retry's is later than its time)


@dataclass(frozen=True, kw_only=True)
class ClaimResult:
    claimed: list[Claimed]
    expired: int
    anomalies: list[tuple[str, str]]
    looked: int
    head_score: float | None  # score of the queue's first member after the claim


@dataclass(kw_only=True, slots=True)  # not frozen: one per finished execution (see Claimed)
class Outcome:
    execution_id: str
    token: str
    status: str  # "success" | "error"
    error: str | None = None
    reason: str | None = None
    retry_at: float | None = None  # an error with a retry time goes back to the queue
    started: float | None = None  # when the worker started the helper (Unix seconds)


def _or_error(call: Any) -> Any:
    """The call's result, or the Redis error it raised (pipelined results carry errors as values)."""
    import redis.exceptions as rexc

    try:
        return call()
    except rexc.RedisError as exc:
        return exc


def _int(text: Any) -> int:
    """Lenient integer parse: the claim is already committed, so this must never raise. Lua's
    numbers arrive as integers already (the common case, checked first: once per field)."""
    if type(text) is int:
        return text
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return 0


def _pairs(flat: Sequence[str]) -> list[tuple[str, str]]:
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
