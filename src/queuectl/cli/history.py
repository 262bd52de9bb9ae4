"""`queuectl history`: finished executions, newest first."""

from __future__ import annotations

import typer

from queuectl.cli.base import JSON_OPTION, handle_errors, state
from queuectl.cli.render import print_executions


@handle_errors
def history(
    ctx: typer.Context,
    helper: str | None = typer.Option(None, "--helper", help="Only this helper."),
    status: str | None = typer.Option(None, "--status", help="success, error or expired."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only executions finished since then: a span back from now (90s, 30m, 2h, 1d, "
        "1h30m) or a date and time (2026-11-29 14:00, local time unless it names a zone).",
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=100000, help="How many to show."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show finished executions (success, error, expired), newest first; kept 24 h."""
    from queuectl.domain.errors import InvalidInput
    from queuectl.domain.models import FINISHED_STATUSES
    from queuectl.domain.timetext import parse_since
    from queuectl.store import history as core
    from queuectl.store.catalog import check_name

    if status is not None and status not in FINISHED_STATUSES:
        raise InvalidInput(f"invalid --status {status!r}: use {', '.join(FINISHED_STATUSES)}")
    if helper is not None:
        check_name(helper)
    since_spec = parse_since(since) if since is not None else None
    app_ = state(ctx).app()
    now = app_.clock.time()
    cutoff = since_spec.cutoff(now) if since_spec is not None else None
    rows = app_.guarded(
        lambda: core.query(app_.client, helper=helper, status=status, finished_after=cutoff, limit=limit)
    )
    print_executions(rows, now, as_json=as_json, empty="No finished executions match.", finished=True)
