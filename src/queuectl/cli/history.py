"""`queuectl history`: finished executions, newest first (body in cli/reads.py)."""
from __future__ import annotations

from typing import Optional

import typer

from . import reads
from .base import exit_with, handle_errors, state
from .reads import parse_duration

__all__ = ["history", "parse_duration"]


def history(
    ctx: typer.Context,
    helper: Optional[str] = typer.Option(None, "--helper", help="Only this helper."),
    status: Optional[str] = typer.Option(None, "--status", help="success, error or expired."),
    since: Optional[str] = typer.Option(None, "--since", help="Only executions finished in the last 2h, 30m, 1d..."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=100000, help="How many to show."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """Show finished executions (success, error, expired), newest first; kept 24 h."""
    _history(ctx, helper, status, since, limit, as_json)


@handle_errors
def _history(ctx: typer.Context, helper: Optional[str], status: Optional[str], since: Optional[str], limit: int,
             as_json: bool) -> None:
    exit_with(reads.history(state(ctx).app, helper=helper, status=status, since=since, limit=limit,
                            as_json=as_json))
