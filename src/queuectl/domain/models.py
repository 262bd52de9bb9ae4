"""Records as they live in Redis and as the CLI shows them.

Statuses are an enum whose values are the stored strings, so Redis, `--json` and tables all
spell them the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Mapping


class ExecutionStatus(str, Enum):
    QUEUED = "queued"      #: planned, waiting for its time and a free slot
    RUNNING = "running"    #: claimed by a dispatcher, helper running under a lease
    SUCCESS = "success"    #: the helper returned
    ERROR = "error"        #: the helper raised, crashed, timed out, or its dispatcher died
    EXPIRED = "expired"    #: not started before executionTime + executionExpiry

    @property
    def terminal(self) -> bool:
        return self in (ExecutionStatus.SUCCESS, ExecutionStatus.ERROR, ExecutionStatus.EXPIRED)


STATUS_VALUES = tuple(s.value for s in ExecutionStatus)
#: The statuses an execution can end in (what history holds).
FINISHED_STATUSES = tuple(s.value for s in ExecutionStatus if s.terminal)


def iso(seconds: float | None) -> str | None:
    """Unix seconds as ISO 8601 with offset (UTC), or None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


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

    @classmethod
    def from_hash(cls, execution_id: str, data: Mapping[str, str]) -> "Execution":
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
        }


@dataclass(frozen=True, kw_only=True)
class HelperRecord:
    """One helper's catalog entry (the JSON value in `internalAvailableHelpers`)."""

    name: str
    rev: int
    status: str                         # "ok" | "broken" | "missing"
    problem: str | None
    schedule: dict[str, Any] | None     # effective schedule (validated), None if none is valid
    default: dict[str, Any] | None      # the code's schedule (validated), None if broken
    override: dict[str, Any] | None     # the operator's change, None if none
    source: str | None
    class_name: str | None
    updated_at: float | None = None
    #: the schedule in force's expiry with its default worked out (a default depends on the
    #: schedule's period, which Lua cannot compute): claim.lua reads it for planned executions
    expiry: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def overridden(self) -> bool:
        return self.override is not None

    @property
    def enabled(self) -> bool:
        return bool(self.schedule and self.schedule.get("enabled", True))

    @property
    def plannable(self) -> bool:
        return self.status == "ok" and self.schedule is not None and self.enabled

    def to_redis(self) -> dict[str, Any]:
        """The stored JSON, without what is implied: the name is the hash field, the code default
        is left out when it is the schedule in force, empty problem/override are left out (one
        entry per helper: with 100k helpers every byte counts 100k times)."""
        out: dict[str, Any] = {"rev": self.rev, "status": self.status}
        if self.problem is not None:
            out["problem"] = self.problem
        out["schedule"] = self.schedule
        if self.expiry is not None:  # right after the schedule: claim.lua matches `},"expiry":N`
            out["expiry"] = self.expiry
        if self.default != self.schedule:
            out["default"] = self.default
        if self.override is not None:
            out["override"] = self.override
        out["source"] = self.source
        out["class"] = self.class_name
        out["updated_at"] = round(self.updated_at, 3) if self.updated_at is not None else None
        return out

    @classmethod
    def from_redis(cls, name: str, data: Mapping[str, Any]) -> "HelperRecord":
        return cls(
            name=str(data.get("name") or name),
            rev=int(data.get("rev") or 0),
            status=str(data.get("status") or "ok"),
            problem=data.get("problem"),
            schedule=data.get("schedule") if isinstance(data.get("schedule"), dict) else None,
            default=(data.get("default") if isinstance(data.get("default"), dict) else None) if "default" in data
            else (data.get("schedule") if isinstance(data.get("schedule"), dict) else None),
            override=data.get("override") if isinstance(data.get("override"), dict) else None,
            source=data.get("source"),
            class_name=data.get("class"),
            updated_at=data.get("updated_at"),
            expiry=data["expiry"] if isinstance(data.get("expiry"), int) else None,
        )
