"""`queuectl executions ...`: show one execution's life, cancel one."""

from __future__ import annotations

from typing import Any

import typer

from queuectl.cli.base import JSON_OPTION, REASON_OPTION, handle_errors, state
from queuectl.cli.render import emit_json, err, line

app = typer.Typer(help="Inspect or cancel one execution by id.", no_args_is_help=True)

ID_ARGUMENT: Any = typer.Argument(..., help="Execution id: <helper>:<unix seconds> or <helper>:manual-<ms>-<hex>.")


@app.command("show")
@handle_errors
def show(ctx: typer.Context, execution_id: str = ID_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Show one execution: its record, timeline (created, due, claimed, started, finished),
    lateness, duration, dispatcher, error and earlier attempts."""
    from queuectl.store import views

    app_ = state(ctx).app()
    detail = views.execution_detail(app_, execution_id)
    if as_json:
        emit_json(detail.data)
        return
    from queuectl.cli.render import executions_table, local_time

    e, data = detail.execution, detail.data
    trigger = e.trigger + (f" by {e.requested_by}" if e.requested_by else "")
    if data.get("request_reason"):
        trigger += f": {data['request_reason']}"
    rows = [
        ("execution", e.execution_id),
        ("helper", e.helper),
        ("status", e.status + (f" ({e.reason})" if e.reason and e.reason != e.status else "")),
        ("trigger", trigger),
        ("priority", str(e.priority)),
        ("expiry", f"{e.expiry} s"),
        ("attempt", str(e.attempt)),
        ("dispatcher", e.dispatcher or "-"),
        ("lateness", f"{detail.lateness:.3f} s" if detail.lateness is not None else "-"),
        ("duration", f"{e.duration:.3f} s" if e.duration is not None else "-"),
        ("error", (e.error or "-").splitlines()[0] if e.error else "-"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        line(f"{key.ljust(width)}  {value}")
    line("\ntimeline:")
    for name, at in detail.timeline:
        line(f"  {name.ljust(9)} {local_time(at)}.{int(round(at * 1000)) % 1000:03d}")
    if detail.attempts:
        line("\nearlier attempts:")
        executions_table(detail.attempts, app_.clock.time(), finished=True)


@app.command("cancel")
@handle_errors
def cancel(
    ctx: typer.Context,
    execution_id: str = ID_ARGUMENT,
    reason: str | None = REASON_OPTION,
    grace: float = typer.Option(
        10.0, "--grace", help="Seconds between SIGTERM and SIGKILL for a running one (0 to 3600)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Cancel an execution: a queued one (a retry waiting included) ends `cancelled` at once; a
    running one has its process group stopped by its dispatcher (SIGTERM, SIGKILL after --grace)
    and ends `cancelled`; this waits for that, up to the grace plus a few seconds. Exit 1 when it
    has finished already, is unknown, or did not end `cancelled`."""
    from queuectl.domain.audit import cli_actor
    from queuectl.store import cancel as cancel_store

    cancel_store.check_id(execution_id)
    grace = cancel_store.check_grace(grace)
    actor = cli_actor(reason)
    app_ = state(ctx).app()
    report = cancel_store.cancel(app_, execution_id, actor, grace=grace)
    if report.outcome == "cancelled":
        if as_json:
            emit_json({**report.to_json(), "status": "cancelled"})
        else:
            line(f"{execution_id} cancelled (it was queued)")
        return
    if not as_json:
        err(
            f"{execution_id} is running on {report.dispatcher}: asked it to stop "
            f"(SIGTERM, SIGKILL after {grace:g} s); waiting"
        )
    final, ended = cancel_store.wait_stopped(app_, report)
    if as_json:
        emit_json({**report.to_json(), "status": final.status, "execution": final.to_json()})
    elif final.status == "cancelled":
        line(f"{execution_id} cancelled (its helper was stopped)")
    elif ended:
        err(f"{execution_id} ended {final.status} before the cancel reached it")
    else:
        err(
            f"{execution_id} is still {final.status} after {grace + cancel_store.MARGIN:g} s: is its "
            f"dispatcher {report.dispatcher} alive? (`queuectl status`)"
        )
    if final.status != "cancelled":
        raise typer.Exit(1)
