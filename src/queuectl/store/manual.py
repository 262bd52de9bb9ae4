"""Run a helper now (`queuectl helpers run`, `POST /helpers/{name}/run`) and wait for the end.

A manual execution is queued due now by run.lua, with the audit entry in the same step; from
there the dispatchers treat it like a planned one (claim, lease, retries, no overlap, expiry).
Waiting polls its hash at most twice a second: it is one HGETALL, and an execution's end is
seen within half a second.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from queuectl.domain.audit import Actor
from queuectl.domain.errors import InvalidInput, QueuectlError, UnknownHelper
from queuectl.domain.ids import manual_execution_id
from queuectl.domain.models import FINISHED_STATUSES, Execution, format_time

if TYPE_CHECKING:
    from queuectl.infra.app import App

#: Seconds between two reads of a waited-for execution (at most twice a second).
POLL = 0.5
#: Exit codes of `helpers run --wait`: the end reached, or the wait given up.
EXIT_OF_STATUS = {"success": 0}
EXIT_FAILED = 1
EXIT_TIMEOUT = 124


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """A checked request to run a helper now (before any Redis connection is opened)."""

    helper: str
    priority: int | None = None
    wait: bool = False
    timeout: float | None = None


def run_request(
    helper: str, *, priority: int | None = None, wait: bool = False, timeout: float | None = None
) -> RunRequest:
    from queuectl.store.catalog import check_name

    check_name(helper)
    if priority is not None and (isinstance(priority, bool) or priority not in range(1, 6)):
        raise InvalidInput(f"invalid priority {priority!r}: use 1 (runs first) to 5")
    if timeout is not None:
        if not wait:
            raise InvalidInput("--timeout needs --wait")
        if not 0 < timeout <= 7 * 86400:
            raise InvalidInput(f"invalid timeout {timeout!r}: give seconds, more than 0 and at most 604800")
    return RunRequest(helper=helper, priority=priority, wait=wait, timeout=timeout)


def run_now(app: App, request: RunRequest, actor: Actor) -> Execution:
    """Queue one manual execution of the helper, due now; its record as queued.

    UnknownHelper when there is none; InvalidInput (nothing changed) when it is broken or
    missing. A disabled helper is run: running it is a deliberate act."""
    from queuectl.store.catalog import read_one

    name = request.helper
    record = app.guarded(lambda: read_one(app.client, name))
    if record.status != "ok" or record.schedule is None:
        raise InvalidInput(f"helper {name!r} is {record.status}: {record.problem or 'no schedule in force'}; not run")
    now = app.clock.time()
    execution_id = manual_execution_id(name, now)
    execution_time = int(now)
    audit = actor.entry(at=now, action="run", helper=name, execution_id=execution_id).script_args()
    outcome, detail = app.guarded(
        lambda: app.scripts.run(
            now=format_time(now),
            execution_id=execution_id,
            helper=name,
            execution_time=execution_time,
            priority=request.priority,
            requested_by=actor.who,
            reason=actor.reason,
            audit=audit,
        )
    )
    if outcome == "nohelper":
        raise UnknownHelper(name)
    if outcome == "unusable":
        raise InvalidInput(f"helper {name!r} is {detail}; not run")
    if outcome != "ok":
        raise QueuectlError(f"could not queue a run of {name!r} ({outcome}); try again")
    return Execution(
        execution_id=execution_id,
        helper=name,
        execution_time=float(execution_time),
        expiry=int(detail[1]),
        priority=int(detail[0]),
        status="queued",
        created_at=now,
        trigger="manual",
        requested_by=actor.who,
    )


def wait_for_end(app: App, execution_id: str, *, timeout: float | None, poll: float = POLL) -> tuple[Execution, bool]:
    """Read the execution until it has ended (success, error, expired, cancelled), at most every
    `poll` seconds: (its record, True), or (its latest record, False) when `timeout` seconds pass
    first. A retry waiting in the queue has not ended."""
    from queuectl.store import views

    poll = max(poll, POLL)
    started = app.clock.monotonic()
    pause = threading.Event()
    while True:
        current = views.execution(app, execution_id)
        if current.status in FINISHED_STATUSES:
            return current, True
        left = None if timeout is None else started + timeout - app.clock.monotonic()
        if left is not None and left <= 0:
            return current, False
        app.clock.wait(pause, poll if left is None else min(poll, left))


def exit_code(execution: Execution, ended: bool) -> int:
    """0 success; 1 error, expired, abandoned, cancelled; 124 when the wait gave up first."""
    if not ended:
        return EXIT_TIMEOUT
    return EXIT_OF_STATUS.get(execution.status, EXIT_FAILED)
