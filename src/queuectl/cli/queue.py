"""`queuectl queue show`: what is queued, in dispatch order (body in cli/reads.py)."""
from __future__ import annotations

from typing import Optional

import typer

from . import reads
from .base import exit_with, handle_errors, state

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
    exit_with(reads.queue_show(state(ctx).app, limit=limit, helper=helper, as_json=as_json))
