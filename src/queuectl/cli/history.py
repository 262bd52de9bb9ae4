"""`queuectl history`: finished executions, newest first; with --follow, as they finish."""

from __future__ import annotations

import typer

from queuectl.cli.base import JSON_OPTION, handle_errors, state
from queuectl.cli.render import print_executions


@handle_errors
def history(
    ctx: typer.Context,
    helper: str | None = typer.Option(None, "--helper", help="Only this helper."),
    status: str | None = typer.Option(None, "--status", help="success, error, expired or cancelled."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only executions finished since then: a span back from now (90s, 30m, 2h, 1d, "
        "1h30m) or a date and time (2026-11-29 14:00, local time unless it names a zone).",
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=100000, help="How many to show."),
    follow: bool = typer.Option(
        False,
        "--follow",
        "-f",
        help="Print executions as they finish (one JSON object a line with --json) until Ctrl-C; "
        "Redis is asked at most once a second.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show finished executions (success, error, expired, cancelled), newest first; kept 24 h."""
    from queuectl.store import views

    query = views.history_query(helper=helper, status=status, since=since, limit=limit)
    if follow:
        if since is not None:
            from queuectl.domain.errors import InvalidInput

            raise InvalidInput("--since does not go with --follow (it shows what finishes from now on)")
        from queuectl.cli.follow import follow_history

        raise typer.Exit(follow_history(state(ctx).app(), query, as_json=as_json))
    app_ = state(ctx).app()
    rows = views.history(app_, query)
    print_executions(rows, app_.clock.time(), as_json=as_json, empty="No finished executions match.", finished=True)
