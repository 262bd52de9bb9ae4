"""Records as they live in Redis and as the CLI shows them.

Statuses are an enum whose values are the stored strings, so Redis, `--json` and tables all
spell them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuectl.domain.schedule import ScheduleConfig


class ExecutionStatus(str, Enum):
    QUEUED = "queued"  #: planned, waiting for its time and a free slot
    RUNNING = "running"  #: claimed by a dispatcher, helper running under a lease
    SUCCESS = "success"  #: the helper returned
    ERROR = "error"  #: the helper raised, crashed, timed out, or its dispatcher died
    EXPIRED = "expired"  #: not started before executionTime + executionExpiry
    CANCELLED = "cancelled"  #: an operator cancelled it (queued: at once; running: its helper stopped)

    @property
    def terminal(self) -> bool:
        return self is not ExecutionStatus.QUEUED and self is not ExecutionStatus.RUNNING


STATUS_VALUES = tuple(s.value for s in ExecutionStatus)
#: The statuses an execution can end in (what history holds).
FINISHED_STATUSES = tuple(s.value for s in ExecutionStatus if s.terminal)


def iso(seconds: float | None) -> str | None:
    """Unix seconds as ISO 8601 with offset (UTC), or None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def format_time(seconds: float) -> str:
    """Unix seconds as stored text: millisecond precision, no float noise."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def parse_iso(text: str) -> float:
    """An ISO 8601 time with offset (as `iso` writes it) as Unix seconds."""
    return datetime.fromisoformat(text).timestamp()


def _num(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class Execution:
    """One execution read back from its `execution:{id}` hash."""

    execution_id: str
    helper: str
    execution_time: float
    expiry: int
    priority: int
    status: str
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    reason: str | None = None
    attempt: int = 1
    dispatcher: str | None = None
    duration: float | None = None  # seconds from startedAt to finishedAt, once it ran
    trigger: str = "schedule"  # "schedule" (planned) | "manual" (`helpers run`)
    requested_by: str | None = None  # who ran it by hand
    retry_at: float | None = None  # when its next attempt is due (a failed attempt is in history)

    @classmethod
    def from_hash(cls, execution_id: str, data: Mapping[str, str]) -> Execution:
        helper = data.get("helper") or execution_id.rpartition(":")[0]
        return cls(
            execution_id=data.get("executionId") or execution_id,
            helper=helper,
            execution_time=_num(data.get("executionTime")) or 0.0,
            expiry=int(_num(data.get("executionExpiry")) or 0),
            priority=int(_num(data.get("priority")) or 3),
            status=data.get("status") or "unknown",
            created_at=_num(data.get("createdAt")),
            started_at=_num(data.get("startedAt")),
            finished_at=_num(data.get("finishedAt")),
            error=data.get("error") or None,
            reason=data.get("reason") or None,
            attempt=int(_num(data.get("attempt")) or 1),
            dispatcher=data.get("dispatcher") or None,
            duration=_num(data.get("duration")),
            trigger=data.get("trigger") or "schedule",
            requested_by=data.get("requestedBy") or None,
            retry_at=_num(data.get("retryAt")),
        )

    @property
    def deadline(self) -> float:
        return self.execution_time + self.expiry

    def to_json(self) -> dict[str, Any]:
        """Stable snake_case keys, ISO 8601 times with offset."""
        return {
            "execution_id": self.execution_id,
            "helper": self.helper,
            "execution_time": iso(self.execution_time),
            "priority": self.priority,
            "status": self.status,
            "expiry": self.expiry,
            "attempt": self.attempt,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
            "reason": self.reason,
            "dispatcher": self.dispatcher,
            "duration": self.duration,
            "trigger": self.trigger,
            "requested_by": self.requested_by,
        }


@dataclass(frozen=True, kw_only=True)
class HelperRecord:
    """One helper's catalog entry (the JSON value in `internalAvailableHelpers`)."""

    name: str
    rev: int
    status: str  # "ok" | "broken" | "missing"
    problem: str | None
    schedule: ScheduleConfig | None  # the schedule in force, None if there is no valid one
    default: ScheduleConfig | None  # the code's schedule, None if it has no valid one
    override: dict[str, Any] | None  # the operator's change (a patch, or a whole schedule), None if none
    source: str | None
    class_name: str | None
    updated_at: float | None = None
    schedule_source: str = "config"  # the code default's origin: "config" or "legacy" (the bridge)
    legacy_call: str | None = None  # the schedule() call the bridge translated, when "legacy"

    @property
    def overridden(self) -> bool:
        return self.override is not None

    @property
    def enabled(self) -> bool:
        return self.schedule is not None and self.schedule.enabled

    @property
    def plannable(self) -> bool:
        return self.status == "ok" and self.enabled

    @property
    def expiry(self) -> int | None:
        """The schedule in force's expiry, its default worked out."""
        return self.schedule.expiry if self.schedule is not None else None

    def to_redis(self) -> dict[str, Any]:
        """The stored JSON: the schedules in their canonical form, without what is implied (the
        name is the hash field, the code default is left out when it is the schedule in force,
        empty problem and override are left out: with 100k helpers every byte counts 100k
        times). `expiry` is the schedule's with its default worked out (the default depends on
        the schedule's period, which Lua cannot compute): the scripts read it as a field."""
        out: dict[str, Any] = {"rev": self.rev, "status": self.status}
        if self.problem is not None:
            out["problem"] = self.problem
        out["schedule"] = self.schedule.to_dict() if self.schedule is not None else None
        if self.schedule is not None:
            out["expiry"] = self.schedule.expiry
        if self.default != self.schedule:
            out["default"] = self.default.to_dict() if self.default is not None else None
        if self.override is not None:
            out["override"] = self.override
        out["source"] = self.source
        out["class"] = self.class_name
        if self.schedule_source != "config":  # the common case is implied
            out["schedule_source"] = self.schedule_source
            out["legacy_call"] = self.legacy_call
        out["updated_at"] = round(self.updated_at, 3) if self.updated_at is not None else None
        return out

    @classmethod
    def from_redis(cls, name: str, data: Mapping[str, Any]) -> HelperRecord:
        """The record of a stored entry; ValueError when a stored schedule is not one."""
        schedule = _stored_schedule(data.get("schedule"))
        return cls(
            name=str(data.get("name") or name),
            rev=int(data.get("rev") or 0),
            status=str(data.get("status") or "ok"),
            problem=data.get("problem"),
            schedule=schedule,
            default=_stored_schedule(data["default"]) if "default" in data else schedule,
            override=data.get("override") if isinstance(data.get("override"), dict) else None,
            source=data.get("source"),
            class_name=data.get("class"),
            updated_at=data.get("updated_at"),
            schedule_source=str(data.get("schedule_source") or "config"),
            legacy_call=data.get("legacy_call"),
        )


def _stored_schedule(data: Any) -> ScheduleConfig | None:
    """A schedule as the catalog stores it (canonical, with its zone) read back into the model."""
    if data is None:
        return None
    from queuectl.domain.errors import InvalidSchedule
    from queuectl.domain.schedule import parse_schedule

    try:
        return parse_schedule(data, default_timezone="UTC")
    except InvalidSchedule as exc:
        raise ValueError(f"stored {exc}") from None
