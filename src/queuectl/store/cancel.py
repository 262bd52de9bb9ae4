"""Cancel one execution (`queuectl executions cancel`, `POST /helpers/executions/{id}/cancel`).

A queued one (a retry waiting for its time included) ends `cancelled` at once, in cancel.lua. A
running one cannot be stopped from here: its process group belongs to the dispatcher that
claimed it, so cancel.lua leaves a request in that dispatcher's cancel hash (keys.cancel_key),
which it reads once a tick; it sends SIGTERM to the helper's process group, SIGKILL after the
grace, and finishes the execution `cancelled`. The caller may then wait for that end.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.audit import Actor
from queuectl.domain.errors import InvalidInput, QueuectlError, UnknownExecution
from queuectl.domain.ids import split_execution_id
from queuectl.domain.models import FINISHED_STATUSES, Execution, format_time

if TYPE_CHECKING:
    from queuectl.infra.app import App

#: Seconds between SIGTERM and SIGKILL unless --grace says otherwise.
DEFAULT_GRACE = 10.0
MAX_GRACE = 3600.0
#: Seconds a waiting caller allows beyond the grace: the dispatcher's tick (it reads requests once
#: a tick), the kill, and the outcome's write.
MARGIN = 5.0
#: Seconds a cancel request outlives its grace in Redis if no dispatcher takes it (its owner died:
#: the reaper ends the execution when its lease lapses).
REQUEST_TTL = 3600


class AlreadyFinished(QueuectlError):
    """The execution has ended already: there is nothing to cancel (the API answers 409)."""

    exit_code = 1

    def __init__(self, execution_id: str, status: str) -> None:
        self.execution_id = execution_id
        self.status = status
        super().__init__(f"execution {execution_id!r} already finished ({status}); nothing to cancel")


class UnknownToCancel(UnknownExecution):
    """No such execution: `cancel` exits 1 (nothing to do), where a read exits 2."""

    exit_code = 1


@dataclass(frozen=True, kw_only=True)
class CancelReport:
    """What the cancel did: `cancelled` (it was queued and is now cancelled) or `requested` (it
    is running: its dispatcher `dispatcher` stops it)."""

    execution_id: str
    outcome: str
    dispatcher: str | None
    grace: float

    def to_json(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "outcome": self.outcome,
            "dispatcher": self.dispatcher,
            "grace": self.grace,
        }


def check_id(execution_id: str) -> str:
    """A well-formed execution id (planned or manual), else UnknownToCancel."""
    split = split_execution_id(execution_id)
    if split is None or not keys.NAME_RE.match(split[0]):
        raise UnknownToCancel(execution_id)
    return execution_id


def check_grace(grace: float) -> float:
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= MAX_GRACE:
        raise InvalidInput(f"invalid grace {grace!r}: give seconds, 0 to {MAX_GRACE:g}")
    return float(grace)


def error_text(actor: Actor) -> str:
    """The `error` of a cancelled execution: who cancelled it, and why."""
    return f"cancelled by {actor.who}" + (f": {actor.reason}" if actor.reason else "")


def cancel(app: App, execution_id: str, actor: Actor, *, grace: float = DEFAULT_GRACE) -> CancelReport:
    """Cancel a queued execution, or ask its dispatcher to stop a running one. UnknownToCancel or
    AlreadyFinished (nothing changed, nothing recorded) when there is nothing to cancel."""
    from queuectl.store.planner import keep_seconds

    check_id(execution_id)
    grace = check_grace(grace)
    helper = execution_id.rpartition(":")[0]
    now = app.clock.time()
    entry = actor.entry(at=now, action="cancel", helper=helper, execution_id=execution_id)
    request = json.dumps({"grace": grace, "error": error_text(actor)}, separators=(",", ":"))
    outcome, detail = app.guarded(
        lambda: app.scripts.cancel(
            now=format_time(now),
            keep=keep_seconds(app.settings.history_ttl),
            execution_id=execution_id,
            error=error_text(actor),
            request=request,
            request_ttl=int(grace) + REQUEST_TTL,
            audit=entry.script_args(),
        )
    )
    if outcome == "unknown":
        raise UnknownToCancel(execution_id)
    if outcome == "finished":
        raise AlreadyFinished(execution_id, detail)
    if outcome == "unreadable":
        raise QueuectlError(f"execution {execution_id!r} has an unreadable record ({detail}); nothing changed")
    return CancelReport(
        execution_id=execution_id,
        outcome=outcome,
        dispatcher=detail or None,
        grace=grace,
    )


def wait_stopped(app: App, report: CancelReport, *, poll: float = 0.5) -> tuple[Execution, bool]:
    """After a `requested` cancel: read the execution until it ends, up to grace + MARGIN
    seconds. (its record, True when it has ended)."""
    from queuectl.store import views

    deadline = app.clock.monotonic() + report.grace + MARGIN
    pause = threading.Event()
    while True:
        current = views.execution(app, report.execution_id)
        if current.status in FINISHED_STATUSES:
            return current, True
        left = deadline - app.clock.monotonic()
        if left <= 0:
            return current, False
        app.clock.wait(pause, min(poll, left))
