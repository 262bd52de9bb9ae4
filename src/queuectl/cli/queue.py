"""`queuectl queue show`: what is queued, in dispatch order."""
from __future__ import annotations

from typing import Optional

import typer

from . import handle_errors, state
from .render import emit_json, err

app = typer.Typer(help="Inspect the execution queue.", no_args_is_help=True)


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=100000, help="How many to show."),
    helper: Optional[str] = typer.Option(None, "--helper", help="Only this helper's executions."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """Show queued executions, earliest first (then by priority)."""
    from .. import queue
    from ..catalog import check_name

    if helper is not None:
        check_name(helper)
    app_ = state(ctx).app()
    now = app_.clock.time()
    rows = app_.guarded(lambda: queue.show(app_.client, limit=limit, helper=helper))
    if as_json:
        emit_json([e.to_json() for e in rows])
        return
    if not rows:
        err("The queue is empty.")
        return
    from .render import executions_table

    executions_table(rows, now)
