"""The legacy bridge's translation: one job of the `schedule` library, as plain data, into the
schedule config queuectl would need for the same instants, or the reason there is none.

Pure and free of the `schedule` library on purpose: runtime/legacy_bridge.py runs the helper's
`schedule()` and copies the Job's attributes into a LegacyJob; everything that decides what a
job means lives here, where it is tested without user code. The rules follow schedule 1.2's
`Job._schedule_next_run` and `at()`:

- `every().day.at(T[, tz])` -> daily at T (no tz: queuectl's default zone, which is the system
  zone the legacy library's naive local time follows unless QUEUECTL_TIMEZONE says otherwise);
  `every(n).days.at(T)` -> daily with `every_days: n`. Without `.at` the legacy job keeps the
  time of day its process started at; queuectl has no such moment and uses 00:00:00.
- `every().monday[.at(T, tz)]` ... `every().sunday` -> cron `M H * * <dow>` (00:00 without `.at`).
- `every(n).seconds|minutes|hours|weeks` (no `.at`) -> interval of n units, aligned to the Unix
  epoch (the legacy library counts from process start, so its phase is arbitrary anyway).
- `every().hour.at("[MM]:SS" | ":MM")` -> cron `MM * * * *` (+ seconds field);
  `every().minute.at(":SS")` -> cron `* * * * * SS` (croniter's seconds field).
Everything else is refused by name: `.to()`, `.until()`, a job that does not call the helper's
own `run()` (or calls it with arguments), `.at()` on every(n > 1) hours or minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from queuectl.domain.schedule.config import MAX_EVERY_DAYS, MAX_INTERVAL_SECONDS
from queuectl.domain.zones import is_zone_name

_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
_CRON_DOW = {
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
    "sunday": 0,
}


@dataclass(frozen=True, kw_only=True)
class LegacyJob:
    """What a `schedule.Job` says, copied out of it (runtime/legacy_bridge.py builds it)."""

    interval: object  # every(n): n, as given (validated here)
    unit: str | None  # "seconds" .. "weeks"
    at: tuple[int, int, int] | None = None  # at_time as (hour, minute, second)
    zone: str | None = None  # at()'s time zone name
    start_day: str | None = None  # "monday" .. "sunday"
    latest: object = None  # .to(latest)
    until: bool = False  # .until() was given
    target: str = "run"  # what the job calls: "run" for the helper's own run()
    calls_own_run: bool = True  # the job calls the helper instance's own run() ...
    has_arguments: bool = False  # ... with arguments bound by .do(run, ...)


@dataclass(frozen=True, kw_only=True)
class Translation:
    """A faithful config (as get_schedule_config() would return it) and the call it came from."""

    config: dict[str, Any]
    call: str


def legacy_call(job: LegacyJob) -> str:
    """The job as the schedule library spells it, e.g. `every(2).days.at("10:00:00", "Europe/Berlin").do(run)`."""
    text = "every()" if job.interval == 1 else f"every({job.interval!r})"
    if job.latest is not None:
        text += f".to({job.latest!r})"
    if job.start_day is not None:
        text += f".{job.start_day}"
    elif job.unit is not None:
        text += "." + (job.unit[:-1] if job.interval == 1 else job.unit)
    if job.at is not None:
        hour, minute, second = job.at
        if job.unit == "minutes" and job.start_day is None:
            at_text = f":{second:02d}"
        elif job.unit == "hours" and job.start_day is None:
            at_text = f"{minute:02d}:{second:02d}" if second else f":{minute:02d}"
        else:
            at_text = f"{hour:02d}:{minute:02d}:{second:02d}"
        text += f'.at("{at_text}"' + (f', "{job.zone}")' if job.zone else ")")
    if job.until:
        text += ".until(...)"
    return text + f".do({job.target}{', ...' if job.has_arguments else ''})"


def translate(job: LegacyJob) -> Translation | str:
    """The Translation of one job, or a one-line reason (naming the construct) why there is none."""
    call = legacy_call(job)
    problem = _refusal(job)
    if problem is not None:
        return f"legacy schedule(): {call}: {problem}"
    config = _config(job)
    if isinstance(config, str):
        return f"legacy schedule(): {call}: {config}"
    return Translation(config=config, call=call)


def _refusal(job: LegacyJob) -> str | None:
    """Constructs that have no faithful equivalent, whatever the unit."""
    if job.latest is not None:
        return ".to() (random interval) has no faithful equivalent: queuectl's instants are the same in every process"
    if job.until:
        return (
            ".until() (an end time) has no faithful equivalent: disable the helper instead (queuectl helpers disable)"
        )
    if not job.calls_own_run:
        return f"the job calls {job.target}, not the helper's own run(); queuectl only runs run()"
    if job.has_arguments:
        return "the job passes arguments to run(); queuectl calls run() without them"
    if isinstance(job.interval, bool) or not isinstance(job.interval, int) or job.interval < 1:
        return f"every({job.interval!r}): the interval must be a whole number >= 1"
    if job.zone is not None and not is_zone_name(job.zone):
        return f"time zone {job.zone!r} is not an IANA name queuectl knows"
    return None


def _config(job: LegacyJob) -> dict[str, Any] | str:
    """The config for a job that passed _refusal, or why its unit cannot be translated."""
    assert isinstance(job.interval, int)
    n = job.interval
    zone = {"timezone": job.zone} if job.zone else {}
    hour, minute, second = job.at or (0, 0, 0)
    if job.start_day is not None:
        dow = _CRON_DOW.get(job.start_day)
        if dow is None:
            return f"unknown weekday {job.start_day!r}"
        return {"type": "cron", "cron": _cron(f"{minute} {hour} * * {dow}", second), **zone}
    if job.unit == "days":
        if n > MAX_EVERY_DAYS:
            return f"every {n} days is longer than queuectl's longest period ({MAX_EVERY_DAYS} days)"
        daily: dict[str, Any] = {"type": "daily", "time": f"{hour:02d}:{minute:02d}:{second:02d}"}
        if n != 1:
            daily["every_days"] = n
        return {**daily, **zone}
    if job.at is not None:
        if n != 1:
            return f".at() on every {n} {job.unit} runs at a phase set by when the process started; use a cron schedule"
        if job.unit == "hours":
            return {"type": "cron", "cron": _cron(f"{minute} * * * *", second), **zone}
        if job.unit == "minutes":
            return {"type": "cron", "cron": f"* * * * * {second}", **zone}
        return f".at() on {job.unit} is not a schedule the library accepts"
    unit_seconds = _UNIT_SECONDS.get(job.unit or "")
    if unit_seconds is None:
        return f"unknown unit {job.unit!r}"
    seconds = n * unit_seconds
    if seconds > MAX_INTERVAL_SECONDS:
        return f"every {n} {job.unit} is longer than queuectl's longest interval ({MAX_INTERVAL_SECONDS} s)"
    if seconds % 60 == 0:
        return {"type": "interval", "interval_minutes": seconds // 60}
    return {"type": "interval", "interval_seconds": seconds}


def _cron(five_fields: str, second: int) -> str:
    """A five-field cron, with croniter's sixth (seconds, last) field only when it is needed."""
    return five_fields if second == 0 else f"{five_fields} {second}"
