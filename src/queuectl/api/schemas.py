"""The shapes of the API's bodies, for the OpenAPI document (/docs, /openapi.json) only.

Responses are the core's `--json` objects serialised as they are (no validation on the hot
path), so these models describe them rather than produce them; `extra="allow"` because a body
may carry more keys than the design names. The request body of PUT is parsed by the core's own
strict parser (domain/schedule/body.py), never by these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Schedule(_Open):
    """A schedule as stored and shown: its canonical form (only the keys of its type)."""

    type: Literal["daily", "interval", "cron"]
    time: str | None = Field(None, description="daily: local time HH:MM or HH:MM:SS", examples=["07:30:00"])
    every_days: int | None = Field(None, ge=1, le=366, description="daily: every N days")
    interval_seconds: int | None = Field(None, ge=1, description="interval: seconds between runs")
    interval_minutes: float | None = Field(None, gt=0, description="interval: minutes between runs (input only)")
    cron: str | None = Field(None, description="cron: 5 fields, optional 6th for seconds", examples=["*/15 * * * *"])
    priority: int = Field(3, ge=1, le=5, description="1 runs first .. 5")
    expiry: int | None = Field(None, ge=0, description="seconds after its time an execution may still start")
    enabled: bool = True
    timezone: str | None = Field(None, description="IANA zone, e.g. Europe/Berlin", examples=["UTC"])
    timeout: float | None = Field(None, gt=0, description="seconds before a running helper is killed")


class ScheduleBody(BaseModel):
    """The design's body of `PUT /helpers/{name}`: the whole new schedule (it replaces the one in
    force until `POST /helpers/{name}/reset`)."""

    model_config = ConfigDict(extra="forbid")

    schedule: Schedule
    reason: str | None = Field(None, max_length=500, description="Why: recorded in the audit trail")


class Helper(_Open):
    """One helper as `queuectl helpers list --json` shows it."""

    name: str
    enabled: bool
    status: Literal["ok", "broken", "missing"]
    problem: str | None
    schedule: dict[str, Any] | None
    next_run: str | None = Field(description="ISO 8601 with offset, null when it will not run")
    overridden: bool
    override: dict[str, Any] | None
    default: dict[str, Any] | None
    source: str | None
    schedule_source: str
    legacy_call: str | None
    class_: str | None = Field(alias="class")
    revision: int
    updated_at: str | None


class Execution(_Open):
    """One execution as `queuectl queue show --json` and `history --json` show it."""

    execution_id: str = Field(examples=["checkIn:1796027400"])
    helper: str
    execution_time: str
    priority: int
    status: Literal["queued", "running", "success", "error", "expired", "cancelled", "unknown"]
    expiry: int
    attempt: int
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    reason: str | None
    dispatcher: str | None
    duration: float | None
    trigger: Literal["schedule", "manual"] = Field("schedule", description="manual: queued by `helpers run`")
    requested_by: str | None = Field(None, description="who ran it by hand (user@host, or the API token's name)")


class HelperDetail(Helper):
    """One helper as `queuectl helpers show NAME --json` shows it: with its next 10 queued and
    its last 10 finished executions."""

    queued: list[Execution]
    recent: list[Execution]
    last_change: dict[str, Any] | None = Field(None, description="Its latest audited change (no schedules)")


class Change(_Open):
    """What an enable, disable, update or reset did (`helpers enable NAME --json`, ...)."""

    helper: str
    name: str
    enabled: bool
    schedule: dict[str, Any] | None
    overridden: bool
    changed: bool
    executions_removed: int
    executions_created: int


class DispatcherSummary(_Open):
    registered_helpers: int
    running_executions: int
    dispatcher_running: bool


class SystemStatus(_Open):
    """The design's status keys (first five) plus detail, as `queuectl status --json`."""

    system_status: Literal["running", "stopped"]
    available_helpers: int
    total_queued_executions: int
    dispatcher: DispatcherSummary
    timestamp: str
    enabled_helpers: int
    broken_helpers: int
    history_executions: int
    next_execution_time: str | None
    dispatchers: list[dict[str, Any]]
    backend: dict[str, Any]
    redis: dict[str, Any]


class Health(_Open):
    status: Literal["ok"]
    redis: Literal["ok"]
    dispatchers_alive: int


class Error(_Open):
    """Every error: one line in `error` (and the same text in `detail`)."""

    error: str
    detail: Any = None


class TimelineEvent(_Open):
    event: Literal["created", "due", "claimed", "started", "finished"]
    at: str


class ExecutionDetail(Execution):
    """One execution's life, as `queuectl executions show ID --json`: the record plus its timeline,
    lateness (seconds from due to started), and its earlier attempts (`<id>#<n>`)."""

    timeline: list[TimelineEvent]
    lateness: float | None
    due_at: str | None
    lease_until: str | None
    retry_at: str | None
    request_reason: str | None
    attempts: list[Execution]


class RunBody(BaseModel):
    """The optional body of `POST /helpers/{name}/run`."""

    model_config = ConfigDict(extra="forbid")

    priority: int | None = Field(None, ge=1, le=5, description="1 (runs first) .. 5; default the helper's")
    reason: str | None = Field(None, max_length=500, description="Why: recorded in the audit trail")


class CancelBody(BaseModel):
    """The optional body of `POST /helpers/executions/{id}/cancel`."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500, description="Why: recorded in the audit trail")
    grace: float | None = Field(None, ge=0, le=3600, description="Seconds from SIGTERM to SIGKILL (default 10)")


class ReasonBody(BaseModel):
    """The optional body of the changes (enable, disable, reset): why, for the audit trail."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500, description="Why: recorded in the audit trail")


class CancelReport(_Open):
    execution_id: str
    outcome: Literal["cancelled", "requested"]
    dispatcher: str | None
    grace: float


class AuditEntry(_Open):
    """One operator change, as `queuectl audit --json` shows it."""

    id: str = Field(description="The stream entry's id")
    at: str | None
    who: str = Field(description="user@host (CLI) or the API token's name")
    via: Literal["cli", "api"]
    action: Literal["enable", "disable", "update", "reset", "run", "cancel"]
    helper: str
    execution_id: str | None
    before: dict[str, Any] | None = Field(description="The schedule in force before (null: none, or run/cancel)")
    after: dict[str, Any] | None = Field(description="The schedule in force after")
    reason: str | None


class RunningNow(_Open):
    execution_id: str
    helper: str
    started_at: str | None
    elapsed_seconds: float | None = Field(description="Seconds since it started, at `at`")
    dispatcher: str | None


class DueNext(_Open):
    execution_id: str
    helper: str
    execution_time: str
    priority: int


class Overview(_Open):
    """What `queuectl top` shows, read once (`GET /overview`)."""

    at: str = Field(description="When it was read (ISO 8601 with offset)")
    helpers: int = Field(description="Registered helpers")
    dispatchers: list[dict[str, Any]] = Field(description="Live dispatchers: id, host, pid, running, concurrency")
    running: list[RunningNow] = Field(description="Running executions, longest running first (at most 50)")
    running_total: int
    queued_total: int
    next_due: list[DueNext] = Field(description="The next 10 in dispatch order")
    outcomes: list[Execution] = Field(description="The last 10 finished, newest first")
    per_minute: int = Field(description="Executions finished in the last 60 s")
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None
    lateness_count: int = Field(description="First attempts of planned executions the percentiles are over")
    lateness_span_seconds: float
