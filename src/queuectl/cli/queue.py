"""`queuectl queue show`: what is queued, in dispatch order."""

from __future__ import annotations

import typer

from queuectl.cli.base import JSON_OPTION, handle_errors, state
from queuectl.cli.render import print_executions

app = typer.Typer(help="Inspect the execution queue.", no_args_is_help=True)


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=100000, help="How many to show."),
    helper: str | None = typer.Option(None, "--helper", help="Only this helper's executions."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show queued executions, earliest first (then by priority)."""
    from queuectl.store import views

    query = views.queue_query(limit=limit, helper=helper)
    app_ = state(ctx).app()
    rows = views.queue(app_, query)
    print_executions(rows, app_.clock.time(), as_json=as_json, empty="The queue is empty.", finished=False)
