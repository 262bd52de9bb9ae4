"""Output for people (rich tables, local times with relative hints) and for scripts (plain JSON).

JSON goes straight to stdout with `json.dumps`, never through rich, which would wrap long lines
when stdout is a pipe. Colour is off when NO_COLOR is set or stdout is not a terminal (rich does
both by itself). rich is imported only when a table is actually drawn.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from queuectl.domain.models import Execution


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def console() -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """rich exits 1 when the reader went away; queuectl stops quietly with 0 whoever
            printed (cli/base.py handle_errors)."""
            self.quiet = True
            raise BrokenPipeError

    if sys.stdout.isatty():
        return _Console()
    return _Console(width=200, soft_wrap=True)


def err(message: str) -> None:
    """One line on stderr (no markup interpretation: messages may contain brackets)."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def report_error(exc: BaseException) -> int:
    """Print the one stderr line for a queuectl error or Ctrl-C and return its exit code (the
    rule of every command, on both fronts)."""
    if isinstance(exc, KeyboardInterrupt):
        err("Interrupted")
        return 130
    err(f"Error: {exc}")
    return int(getattr(exc, "exit_code", 1))


def line(message: str) -> None:
    sys.stdout.write(message + "\n")


def relative(seconds: float | None, now: float) -> str:
    if seconds is None:
        return ""
    delta = seconds - now
    future = delta >= 0
    d = abs(delta)
    if d < 1:
        text = "now"
        return text
    if d < 60:
        text = f"{d:.0f} s"
    elif d < 3600:
        text = f"{d / 60:.0f} min"
    elif d < 86400 * 2:
        text = f"{d / 3600:.1f} h".replace(".0 h", " h")
    else:
        text = f"{d / 86400:.0f} d"
    return f"in {text}" if future else f"{text} ago"


def local_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def when(seconds: float | None, now: float | None = None) -> str:
    if seconds is None:
        return "-"
    now = time.time() if now is None else now
    return f"{local_time(seconds)} ({relative(seconds, now)})"


def schedule_summary(schedule: dict[str, Any] | None) -> str:
    if not schedule:
        return "-"
    kind = schedule.get("type")
    tz = schedule.get("timezone", "")
    if kind == "daily":
        days = schedule.get("every_days", 1)
        return f"{'daily' if days == 1 else f'every {days} days at'} {schedule.get('time')} {tz}"
    if kind == "interval":
        seconds = int(schedule.get("interval_seconds") or 0)
        if seconds % 3600 == 0:
            every = f"{seconds // 3600} h"
        elif seconds % 60 == 0:
            every = f"{seconds // 60} min"
        else:
            every = f"{seconds} s"
        return f"every {every}"
    if kind == "cron":
        return f"cron '{schedule.get('cron')}' {tz}"
    return str(kind)


def schedule_origin(row: dict[str, Any]) -> str:
    """Where a helper's code schedule came from, for people (helpers show)."""
    if row.get("schedule_source") == "legacy":
        return f"legacy schedule() {row.get('legacy_call')}, translated by the bridge"
    return "get_schedule_config()"


def helpers_table(rows: Iterable[dict[str, Any]], now: float) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("NAME", "ENABLED", "SCHEDULE", "PRIORITY", "EXPIRY", "NEXT RUN", "STATUS"):
        table.add_column(column, overflow="fold")
    from queuectl.domain.models import parse_iso

    for row in rows:
        schedule = row.get("schedule") or {}
        status = row["status"] + (" (override)" if row.get("overridden") else "")
        next_run = parse_iso(row["next_run"]) if row.get("next_run") else None
        table.add_row(
            row["name"],
            "yes" if row["enabled"] else "no",
            schedule_summary(schedule) + (" (legacy)" if row.get("schedule_source") == "legacy" else ""),
            str(schedule.get("priority", "-")),
            f"{schedule.get('expiry', '-')} s",
            when(next_run, now) if next_run else "-",
            status,
        )
    console().print(table)


def print_executions(rows: list[Execution], now: float, *, as_json: bool, empty: str, finished: bool) -> None:
    """Executions as JSON, as a table, or a line on stderr when there are none."""
    if as_json:
        emit_json([e.to_json() for e in rows])
    elif not rows:
        err(empty)
    else:
        executions_table(rows, now, finished=finished)


def executions_table(executions: Iterable[Execution], now: float, *, finished: bool = False) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    columns = ["EXECUTION", "HELPER", "TIME", "PRIORITY", "STATUS"]
    if finished:
        columns += ["FINISHED", "ERROR"]
    for column in columns:
        table.add_column(column, overflow="fold")
    styles = {"success": "green", "error": "red", "expired": "yellow", "cancelled": "magenta", "running": "cyan"}
    for e in executions:
        cells: list[Any] = [
            e.execution_id,
            e.helper,
            when(e.execution_time, now),
            str(e.priority),
            Text(e.status, style=styles.get(e.status, "")),
        ]
        if finished:
            detail = e.error or (e.reason if e.status != "success" else "") or ""
            cells += [when(e.finished_at, now), Text(detail.splitlines()[0] if detail else "")]
        table.add_row(*cells)
    console().print(table)


def change_summary(change: dict[str, Any] | None, now: float) -> str:
    """A helper's last audited change on one line (helpers show)."""
    if not change:
        return "none recorded"
    from queuectl.domain.models import parse_iso

    at = when(parse_iso(change["at"]), now) if change.get("at") else "-"
    what = change.get("action", "?") + (f" {change['execution_id']}" if change.get("execution_id") else "")
    why = f": {change['reason']}" if change.get("reason") else ""
    return f"{what} by {change.get('who', '?')} ({change.get('via', '?')}) {at}{why}"


def outcome_summary(execution: Execution) -> str:
    """How an execution ended, on one line (helpers run --wait)."""
    text = f"{execution.execution_id} ended {execution.status}"
    if execution.duration is not None:
        text += f" after {execution.duration:.3f} s"
    if execution.status != "success" and (execution.error or execution.reason):
        text += f": {(execution.error or execution.reason or '').splitlines()[0]}"
    return text


def quiet_stdout() -> None:
    """After a broken pipe (`queuectl ... | head`), point stdout at /dev/null so that nothing
    more is written and the interpreter's flush at exit does not complain."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
