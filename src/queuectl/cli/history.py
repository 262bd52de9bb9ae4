"""`queuectl history`: finished executions, newest first."""
from __future__ import annotations

import re
from typing import Optional

import typer

from . import handle_errors, state
from .render import emit_json, err

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90s', '15m', '2h', '1d', '1h30m', or plain seconds."""
    from ..errors import InvalidInput

    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidInput(f"invalid duration {text!r}: use e.g. 90s, 15m, 2h, 1d or 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


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
    from .. import history as core
    from ..catalog import check_name
    from ..errors import InvalidInput

    if status is not None and status not in ("success", "error", "expired"):
        raise InvalidInput(f"invalid --status {status!r}: use success, error or expired")
    if helper is not None:
        check_name(helper)
    window = parse_duration(since) if since is not None else None
    app_ = state(ctx).app()
    now = app_.clock.time()
    rows = app_.guarded(lambda: core.query(app_.client, now=now, helper=helper, status=status, since=window,
                                           limit=limit))
    if as_json:
        emit_json([e.to_json() for e in rows])
        return
    if not rows:
        err("No finished executions match.")
        return
    from .render import executions_table

    executions_table(rows, now, finished=True)
