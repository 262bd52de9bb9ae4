"""`queuectl helpers ...`: sync, list, show, enable, disable, update, reset."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from queuectl.cli.base import JSON_OPTION, REASON_OPTION, handle_errors, state
from queuectl.cli.render import emit_json, err, line

app = typer.Typer(
    help="Discover, inspect, change and run helpers (changes persist until `reset`).", no_args_is_help=True
)


@app.command("sync")
@handle_errors
def sync(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Discover helper files, register them and plan the window (no dispatcher loop)."""
    from queuectl.runtime.registry import sync as do_sync

    app_ = state(ctx).app()
    found, report = app_.guarded(lambda: do_sync(app_))
    for error in report.load_errors:
        err(f"Warning: cannot load {error.source}: {error.reason}")
    for name, problem in report.broken:
        err(f"Warning: helper {name} is broken: {problem}")
    for spec in found.helpers:
        if spec.bridge_note is not None:
            err(f"[BRIDGE] {spec.bridge_note}")
    if as_json:
        emit_json(report.to_json())
        return
    line(
        f"{len(found.helpers)} helpers registered ({len(report.registered)} new, {len(report.updated)} changed, "
        f"{len(report.unchanged)} unchanged); {report.plan.created} executions planned"
        + (f", {report.unplanned} removed" if report.unplanned else "")
    )


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List registered helpers with their schedules and next run."""
    from queuectl.store import views

    app_ = state(ctx).app()
    now = app_.clock.time()
    rows = views.helpers(app_)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        err("No helpers registered. Run `queuectl helpers sync` (or `queuectl run`) in the directory with helpers/.")
        return
    from queuectl.cli.render import helpers_table

    helpers_table(rows, now)


@app.command("show")
@handle_errors
def show(ctx: typer.Context, name: str = typer.Argument(..., help="Helper name."), as_json: bool = JSON_OPTION) -> None:
    """Show one helper: schedule in force, code default, override, queued and recent executions."""
    from queuectl.store import views

    app_ = state(ctx).app()
    now = app_.clock.time()
    detail = views.helper(app_, name)
    record, data, queued, recent = detail.record, detail.data, detail.queued, detail.recent
    if as_json:
        emit_json(data)
        return
    from queuectl.cli.render import change_summary, executions_table, schedule_origin, schedule_summary, when
    from queuectl.domain.models import parse_iso

    rows = [
        ("name", record.name),
        ("status", record.status + (f" ({record.problem})" if record.problem else "")),
        ("enabled", "yes" if record.enabled else "no"),
        ("schedule", schedule_summary(data["schedule"])),
        ("in force", json.dumps(record.schedule.to_dict() if record.schedule else None)),
        ("code default", json.dumps(data["default"])),
        ("override", json.dumps(record.override) if record.overridden else "none"),
        ("source", f"{record.source} (class {record.class_name})"),
        ("schedule from", schedule_origin(data)),
        ("next run", when(parse_iso(data["next_run"]), now) if data["next_run"] else "-"),
        ("last change", change_summary(data.get("last_change"), now)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        line(f"{key.ljust(width)}  {value}")
    if queued:
        line("\nqueued:")
        executions_table(queued, now)
    if recent:
        line("\nrecent:")
        executions_table(recent, now, finished=True)


def _change_output(report: Any, verb: str, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_json())
        return
    helper = report.helper
    parts = [f"{helper.name}: {verb}"]
    if report.removed:
        parts.append(f"{report.removed} queued executions removed")
    if report.created:
        parts.append(f"{report.created} executions planned")
    if helper.status != "ok":
        parts.append(f"helper is {helper.status}: {helper.problem}")
    line("; ".join(parts))


@app.command("enable")
@handle_errors
def enable(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Helper name."),
    reason: str | None = REASON_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Enable a helper and plan its executions for the window."""
    from queuectl.domain.audit import cli_actor
    from queuectl.store.control import set_enabled

    actor = cli_actor(reason)
    app_ = state(ctx).app()
    report = app_.guarded(lambda: set_enabled(app_, name, True, actor=actor))
    _change_output(report, "enabled", as_json)


@app.command("disable")
@handle_errors
def disable(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Helper name."),
    reason: str | None = REASON_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Disable a helper: its planned executions are removed (manual runs stay), history is kept."""
    from queuectl.domain.audit import cli_actor
    from queuectl.store.control import set_enabled

    actor = cli_actor(reason)
    app_ = state(ctx).app()
    report = app_.guarded(lambda: set_enabled(app_, name, False, actor=actor))
    _change_output(report, "disabled", as_json)


@app.command("update")
@handle_errors
def update(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Helper name."),
    type_: str | None = typer.Option(None, "--type", help="daily, interval or cron."),
    time_: str | None = typer.Option(None, "--time", help="Daily time, HH:MM or HH:MM:SS."),
    every_days: int | None = typer.Option(
        None, "--every-days", help="Daily: run every N days (on dates whose day number since 1970-01-01 N divides)."
    ),
    interval_minutes: float | None = typer.Option(None, "--interval-minutes", help="Interval in minutes."),
    interval_seconds: int | None = typer.Option(None, "--interval-seconds", help="Interval in seconds."),
    cron: str | None = typer.Option(None, "--cron", help="Cron expression (5 fields, optional 6th: seconds)."),
    priority: int | None = typer.Option(None, "--priority", help="1 (runs first) .. 5."),
    expiry: int | None = typer.Option(None, "--expiry", help="Seconds after its time an execution may still start."),
    timezone: str | None = typer.Option(None, "--timezone", help="IANA time zone, e.g. Europe/Berlin."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds before a running helper is killed."),
    config: str | None = typer.Option(None, "--config", help='Whole new schedule as JSON: {"schedule": {...}}.'),
    reason: str | None = REASON_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a helper's schedule and re-plan it (the change persists until `helpers reset`)."""
    from queuectl.domain.audit import cli_actor
    from queuectl.domain.errors import InvalidInput
    from queuectl.store.control import update as do_update

    flags = {
        "type": type_,
        "time": time_,
        "every_days": every_days,
        "interval_minutes": interval_minutes,
        "interval_seconds": interval_seconds,
        "cron": cron,
        "priority": priority,
        "expiry": expiry,
        "timezone": timezone,
        "timeout": timeout,
    }
    changes = {k: v for k, v in flags.items() if v is not None}
    if config is not None and changes:
        raise InvalidInput("give either --config or schedule options, not both")
    replace = config is not None
    if replace:
        from queuectl.domain.schedule.body import parse_config_body

        changes = parse_config_body(config or "")
    actor = cli_actor(reason)
    app_ = state(ctx).app()
    report = app_.guarded(lambda: do_update(app_, name, changes, replace=replace, actor=actor))
    _change_output(report, "updated" if report.changed else "unchanged", as_json)


@app.command("reset")
@handle_errors
def reset(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Helper name."),
    reason: str | None = REASON_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Drop the operator override: the schedule from the helper's code is in force again."""
    from queuectl.domain.audit import cli_actor
    from queuectl.store.control import reset as do_reset

    actor = cli_actor(reason)
    app_ = state(ctx).app()
    report = app_.guarded(lambda: do_reset(app_, name, actor=actor))
    _change_output(report, "reset to its code default", as_json)


@app.command("run")
@handle_errors
def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Helper name."),
    wait: bool = typer.Option(False, "--wait", help="Block until it ends: exit 0 success, 1 otherwise."),
    timeout: float | None = typer.Option(
        None, "--timeout", help="With --wait: give up after this many seconds (exit 124; the run goes on)."
    ),
    priority: int | None = typer.Option(None, "--priority", help="1 (runs first) .. 5; default the helper's."),
    reason: str | None = REASON_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a helper now: queue one manual execution, due now, and print its id.

    It runs like a planned one (a dispatcher claims it; isolation, lease, retries, and never two
    of one helper at once). A disabled helper runs too (on purpose); a broken or missing one
    does not. With --wait: exit 0 on success, 1 on error, expired, abandoned or cancelled, 124
    when --timeout passes first; --json then prints the final record.
    """
    from queuectl.domain.audit import cli_actor
    from queuectl.store import manual

    request = manual.run_request(name, priority=priority, wait=wait, timeout=timeout)
    actor = cli_actor(reason)
    app_ = state(ctx).app()
    queued = manual.run_now(app_, request, actor)
    if not wait:
        if as_json:
            emit_json(queued.to_json())
        else:
            line(queued.execution_id)
        return
    if not as_json:
        line(queued.execution_id)
        sys.stdout.flush()
    final, ended = manual.wait_for_end(app_, queued.execution_id, timeout=timeout)
    code = manual.exit_code(final, ended)
    if as_json:
        emit_json(final.to_json())
    elif not ended:
        err(f"{final.execution_id} is still {final.status} after {timeout:g} s; not waiting longer")
    else:
        from queuectl.cli.render import outcome_summary

        err(outcome_summary(final))
    if code:
        raise typer.Exit(code)
