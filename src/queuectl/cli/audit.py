"""`queuectl audit`: the operator changes recorded in the audit trail, newest first."""

from __future__ import annotations

import typer

from queuectl.cli.base import JSON_OPTION, handle_errors, state
from queuectl.cli.render import emit_json, err


@handle_errors
def audit(
    ctx: typer.Context,
    helper: str | None = typer.Option(None, "--helper", help="Only this helper's changes."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only changes made since then: a span back from now (90s, 30m, 2h, 1d) or a date and time "
        "(2026-11-29 14:00, local time unless it names a zone).",
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=100000, help="How many to show."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show who changed what and why (enable, disable, update, reset, run, cancel), newest first;
    the last ~10,000 changes are kept."""
    from queuectl.store import views

    query = views.audit_query(helper=helper, since=since, limit=limit)
    app_ = state(ctx).app()
    rows = views.audit(app_, query)
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        err("No recorded changes match.")
        return
    import json

    from rich.table import Table

    from queuectl.cli.render import console, schedule_summary, when

    table = Table(box=None, header_style="bold")
    for column in ("WHEN", "WHO", "ACTION", "HELPER", "WHAT", "REASON"):
        table.add_column(column, overflow="fold")
    now = app_.clock.time()
    for r in rows:
        if r.execution_id:
            what = r.execution_id
        elif r.before != r.after:
            before, after = schedule_summary(r.before), schedule_summary(r.after)
            what = f"{before} -> {after}" if before != after else ""
            if isinstance(r.before, dict) and isinstance(r.after, dict):
                changed = sorted(k for k in set(r.before) | set(r.after) if r.before.get(k) != r.after.get(k))
                what = " ".join([what, ", ".join(f"{k}={json.dumps(r.after.get(k))}" for k in changed)]).strip()
        else:
            what = "no change to the schedule"
        table.add_row(when(r.at, now), f"{r.who} ({r.via})", r.action, r.helper, what, r.reason or "")
    console().print(table)
