"""`queuectl status`: is a dispatcher alive, what is queued and running."""

from __future__ import annotations

from typing import Any

import typer

from queuectl.cli.base import JSON_OPTION, handle_errors, state
from queuectl.cli.render import emit_json, err, line


@handle_errors
def status(
    ctx: typer.Context,
    as_json: bool = JSON_OPTION,
    check: bool = typer.Option(False, "--check", help="Exit 3 when no dispatcher is alive (for probes)."),
) -> None:
    """Summarise the system: helpers, queue, running executions, live dispatchers."""
    from queuectl.store import views

    app_ = state(ctx).app()
    data = views.system_status(app_)
    for warning in data["redis"]["warnings"]:
        err(f"Warning: {warning}")
    if as_json:
        emit_json(data)
    else:
        _status_text(data, app_.backend)
    if check and not data["dispatcher"]["dispatcher_running"]:
        raise typer.Exit(3)


def _status_text(data: dict[str, Any], backend: dict[str, Any]) -> None:
    from queuectl.cli.render import local_time
    from queuectl.domain.models import parse_iso

    d = data["dispatcher"]
    where = f"embedded, data in {backend['data_dir']}" if backend.get("kind") == "embedded" else backend.get("url")
    line(f"system:      {data['system_status']}")
    line(f"backend:     {where}")
    line(
        f"helpers:     {data['available_helpers']} registered, {data['enabled_helpers']} enabled, "
        f"{data['broken_helpers']} broken"
    )
    next_at = data["next_execution_time"]
    line(
        f"queue:       {data['total_queued_executions']} queued"
        + (f", next at {local_time(parse_iso(next_at))}" if next_at else "")
    )
    line(f"running:     {d['running_executions']}")
    line(f"history:     {data['history_executions']} finished in the last 24 h")
    if data["dispatchers"]:
        for disp in data["dispatchers"]:
            line(
                f"dispatcher:  {disp['id']} (pid {disp['pid']} on {disp['host']}, "
                f"{disp['running']}/{disp['concurrency']} running)"
            )
    else:
        line("dispatcher:  none alive (start one with `queuectl run`)")
