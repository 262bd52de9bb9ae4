"""`queuectl status`: is a dispatcher alive, what is queued and running."""
from __future__ import annotations

import typer

from . import handle_errors, state
from .render import emit_json, line


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
    check: bool = typer.Option(False, "--check", help="Exit 3 when no dispatcher is alive (for probes)."),
) -> None:
    """Summarise the system: helpers, queue, running executions, live dispatchers."""
    _status(ctx, as_json, check)


@handle_errors
def _status(ctx: typer.Context, as_json: bool, check: bool) -> None:
    from ..status import summary

    app_ = state(ctx).app()
    now = app_.clock.time()
    data = app_.guarded(lambda: summary(app_.client, now))
    data["backend"] = app_.backend
    from ..redischeck import check as check_redis

    data["redis"] = app_.guarded(lambda: check_redis(app_.client))
    for warning in data["redis"]["warnings"]:
        from .render import err

        err(f"Warning: {warning}")
    if as_json:
        emit_json(data)
    else:
        from .render import local_time

        d = data["dispatcher"]
        line(f"system:      {data['system_status']}")
        b = app_.backend
        line(f"backend:     {'embedded, data in ' + str(b['data_dir']) if b.get('kind') == 'embedded' else b.get('url')}")
        line(f"helpers:     {data['available_helpers']} registered, {data['enabled_helpers']} enabled, "
             f"{data['broken_helpers']} broken")
        line(f"queue:       {data['total_queued_executions']} queued"
             + (f", next at {local_time(_ts(data['next_execution_time']))}" if data["next_execution_time"] else ""))
        line(f"running:     {d['running_executions']}")
        line(f"history:     {data['history_executions']} finished in the last 24 h")
        if data["dispatchers"]:
            for disp in data["dispatchers"]:
                line(f"dispatcher:  {disp['id']} (pid {disp['pid']} on {disp['host']}, "
                     f"{disp['running']}/{disp['concurrency']} running)")
        else:
            line("dispatcher:  none alive (start one with `queuectl run`)")
    if check and not data["dispatcher"]["dispatcher_running"]:
        raise typer.Exit(3)


def _ts(iso_text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso_text).timestamp()
