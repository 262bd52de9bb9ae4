"""`queuectl status`: is a dispatcher alive, what is queued and running (body in cli/reads.py)."""
from __future__ import annotations

import typer

from . import reads
from .base import exit_with, handle_errors, state


def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
    check: bool = typer.Option(False, "--check", help="Exit 3 when no dispatcher is alive (for probes)."),
) -> None:
    """Summarise the system: helpers, queue, running executions, live dispatchers."""
    _status(ctx, as_json, check)


@handle_errors
def _status(ctx: typer.Context, as_json: bool, check: bool) -> None:
    exit_with(reads.status(state(ctx).app, as_json=as_json, check=check))
