"""The legacy bridge's reading side: run a helper's `schedule()` method (written for the
`schedule` library) against a private scheduler and copy out the job it leaves.

It runs user code, so it runs where `get_schedule_config()` does: in discovery's child process
(runtime/discovery.py). The library's module functions (`schedule.every`, `schedule.clear`, ...)
look up the module global `default_scheduler` on every call, so swapping that global for a private
`Scheduler` for the length of the call catches every job without touching anything the helper
module holds; the default is restored afterwards. The private scheduler refuses to run jobs, so a
`schedule()` that starts the legacy loop itself is refused rather than running the helper here.
The translation itself is pure: domain/schedule/legacy.py.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from queuectl.domain.schedule.legacy import LegacyJob, Translation, legacy_call, translate
from queuectl.helper import BaseHelper

if TYPE_CHECKING:
    import schedule


def has_legacy_schedule(cls: type[BaseHelper]) -> bool:
    """The class (or a user base class; BaseHelper has none) defines a callable `schedule`."""
    return callable(getattr(cls, "schedule", None))


def has_schedule_config(cls: type[BaseHelper]) -> bool:
    """The class overrides BaseHelper.get_schedule_config."""
    return getattr(cls, "get_schedule_config", None) is not BaseHelper.get_schedule_config


class LoopRefused(Exception):
    """schedule() ran the legacy scheduler loop (run_pending/run_all) itself."""


def read_jobs(instance: BaseHelper) -> list[schedule.Job]:
    """The jobs `instance.schedule()` leaves on the schedule module's default scheduler.

    Raises whatever schedule() raises (the caller reports it), LoopRefused if it runs jobs.
    """
    import schedule

    class _PrivateScheduler(schedule.Scheduler):
        def run_pending(self) -> None:
            raise LoopRefused("run_pending")

        def run_all(self, delay_seconds: int = 0) -> None:
            raise LoopRefused("run_all")

    private = _PrivateScheduler()
    saved = schedule.default_scheduler, schedule.jobs
    schedule.default_scheduler, schedule.jobs = private, private.jobs
    try:
        instance.schedule()  # type: ignore[attr-defined]  # has_legacy_schedule checked it
    finally:
        schedule.default_scheduler, schedule.jobs = saved
    return list(private.jobs)


def job_facts(job: schedule.Job, instance: BaseHelper) -> LegacyJob:
    """A Job's attributes as plain data; whether it calls this instance's own run() and how."""
    func: Any = job.job_func
    target: Any = func.func if isinstance(func, functools.partial) else func
    own_run = getattr(type(instance), "run", None)
    calls_own_run = getattr(target, "__self__", None) is instance and getattr(target, "__func__", None) is own_run
    has_arguments = isinstance(func, functools.partial) and bool(func.args or func.keywords)
    at = job.at_time
    zone = job.at_time_zone
    return LegacyJob(
        interval=job.interval,
        unit=job.unit,
        at=(at.hour, at.minute, at.second) if at is not None else None,
        zone=str(getattr(zone, "zone", zone)) if zone is not None else None,
        start_day=job.start_day,
        latest=job.latest,
        until=job.cancel_after is not None,
        target=_target_name(target, calls_own_run),
        calls_own_run=calls_own_run,
        has_arguments=has_arguments,
    )


def _target_name(target: Any, calls_own_run: bool) -> str:
    if calls_own_run:
        return "run"
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or type(target).__name__
    return str(name)


def read_legacy(instance: BaseHelper) -> Translation | str:
    """The helper's legacy schedule as a Translation, or a one-line reason why it has none.

    Exceptions from schedule() are the caller's to report (they are user code's failures, worded
    like get_schedule_config()'s); the refusals of the bridge itself come back as text.
    """
    try:
        jobs = read_jobs(instance)
    except LoopRefused as exc:
        return f"legacy schedule() calls schedule.{exc}(): the scheduler loop is queuectl's; only define the job"
    if not jobs:
        return "legacy schedule() left no job on the schedule module's default scheduler (schedule.every(...))"
    if len(jobs) > 1:
        calls = ", ".join(legacy_call(job_facts(job, instance)) for job in jobs)
        return f"legacy schedule() made {len(jobs)} jobs ({calls}); queuectl runs one schedule per helper: split them"
    return translate(job_facts(jobs[0], instance))
