"""The read-only commands' bodies: `helpers list`, `status`, `queue show`, `history`.

Both fronts call these: the Typer commands and the lean front (cli/fast.py), so each command
behaves and prints one way whichever front runs it. They import neither typer nor rich (rich is
imported only to draw a table, for output without --json). Each takes a
zero-argument `open_app`, called after the arguments are validated, exactly where the Typer
commands opened the App before, and returns the exit code.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from .render import emit_json, err, line

if TYPE_CHECKING:
    from ..app import App

Opener = Callable[[], "App"]

HISTORY_STATUSES = ("success", "error", "expired")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def helpers_list(open_app: Opener, *, as_json: bool) -> int:
    """List registered helpers with their schedules and next run."""
    from ..catalog import helper_json, read_all

    app_ = open_app()
    now = app_.clock.time()
    records = app_.guarded(lambda: read_all(app_.client))
    rows = [helper_json(r, now) for r in records.values()]
    if as_json:
        emit_json(rows)
        return 0
    if not rows:
        err("No helpers registered. Run `queuectl helpers sync` (or `queuectl run`) in the directory with helpers/.")
        return 0
    from .render import helpers_table

    helpers_table(with_ts(rows), now)
    return 0


def with_ts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add `next_run_ts` (Unix seconds) to helper rows, for the tables' relative times."""
    for row in rows:
        row["next_run_ts"] = _ts(row["next_run"]) if row.get("next_run") else None
    return rows


def status(open_app: Opener, *, as_json: bool, check: bool) -> int:
    """Summarise the system; 3 with `check` when no dispatcher is alive."""
    from ..redischeck import check as check_redis
    from ..status import summary

    app_ = open_app()
    now = app_.clock.time()
    data = app_.guarded(lambda: summary(app_.client, now))
    data["backend"] = app_.backend
    data["redis"] = app_.guarded(lambda: check_redis(app_.client))
    for warning in data["redis"]["warnings"]:
        err(f"Warning: {warning}")
    if as_json:
        emit_json(data)
    else:
        _status_text(data, app_.backend)
    return 3 if check and not data["dispatcher"]["dispatcher_running"] else 0


def _status_text(data: dict[str, Any], b: dict[str, Any]) -> None:
    from .render import local_time

    d = data["dispatcher"]
    line(f"system:      {data['system_status']}")
    line(f"backend:     {'embedded, data in ' + str(b['data_dir']) if b.get('kind') == 'embedded' else b.get('url')}")
    line(f"helpers:     {data['available_helpers']} registered, {data['enabled_helpers']} enabled, "
         f"{data['broken_helpers']} broken")
    line(f"queue:       {data['total_queued_executions']} queued"
         + (f", next at {local_time(_ts(data['next_execution_time']))}" if data["next_execution_time"] else ""))
    line(f"running:     {d['running_executions']}")
    line(f"history:     {data['history_executions']} finished in the last 24 h")
    if data["dispatchers"]:
        for disp in data["dispatchers"]:
            line(f"dispatcher:  {disp['id']} (pid {disp['pid']} on {disp['host']}, "
                 f"{disp['running']}/{disp['concurrency']} running)")
    else:
        line("dispatcher:  none alive (start one with `queuectl run`)")


def queue_show(open_app: Opener, *, limit: int, helper: str | None, as_json: bool) -> int:
    """Show queued executions, earliest first (then by priority)."""
    from .. import queue
    from ..catalog import check_name

    if helper is not None:
        check_name(helper)
    app_ = open_app()
    now = app_.clock.time()
    rows = app_.guarded(lambda: queue.show(app_.client, limit=limit, helper=helper))
    return _print_executions(rows, now, as_json=as_json, empty="The queue is empty.", finished=False)


def history(open_app: Opener, *, helper: str | None, status: str | None, since: str | None, limit: int,
            as_json: bool) -> int:
    """Show finished executions, newest first."""
    from .. import history as core
    from ..catalog import check_name
    from ..errors import InvalidInput

    if status is not None and status not in HISTORY_STATUSES:
        raise InvalidInput(f"invalid --status {status!r}: use success, error or expired")
    if helper is not None:
        check_name(helper)
    window = parse_duration(since) if since is not None else None
    app_ = open_app()
    now = app_.clock.time()
    rows = app_.guarded(lambda: core.query(app_.client, now=now, helper=helper, status=status, since=window,
                                           limit=limit))
    return _print_executions(rows, now, as_json=as_json, empty="No finished executions match.", finished=True)


def _print_executions(rows: list[Any], now: float, *, as_json: bool, empty: str, finished: bool) -> int:
    """Executions as JSON, as a table, or a line on stderr when there are none."""
    if as_json:
        emit_json([e.to_json() for e in rows])
        return 0
    if not rows:
        err(empty)
        return 0
    from .render import executions_table

    executions_table(rows, now, finished=finished)
    return 0


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


def _ts(iso_text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso_text).timestamp()
