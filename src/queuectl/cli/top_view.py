"""One frame of `queuectl top`, drawn with rich from an Overview (store/overview.py).

Laid out for 80x24 and wider: a title line, a figures line, a status line (Redis unreachable,
or blank so nothing jumps), dispatchers, running executions, then the next due and the last
outcomes side by side. Every cell has a fixed width and is cut with an ellipsis, never wrapped,
so a long helper name cannot push the frame past the screen.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from queuectl.cli.render import relative

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

    from queuectl.store.overview import Overview

#: Rows of the lists at the bottom (the next due, the last outcomes).
LIST_ROWS = 10
#: Dispatchers shown before "... N more".
DISPATCHER_ROWS = 3
#: Lines of a frame outside the running list at 24 lines: title, figures, status, dispatchers'
#: header, the running header, the lists' header and their rows.
FIXED_LINES = 3 + 1 + 1 + 1 + LIST_ROWS


def clock_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%H:%M:%S")


def _table(*columns: tuple[str, int, Literal["left", "right"]]) -> Table:
    from rich.table import Table

    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold", show_edge=False, pad_edge=False)
    for name, width, justify in columns:
        table.add_column(name, width=width, no_wrap=True, overflow="ellipsis", justify=justify)
    return table


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{seconds / 3600:.1f} h"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}ms" if value < 1000 else f"{value / 1000:.2f}s"


def _line(text: Any) -> Any:
    """`text` on exactly one line: cut with an ellipsis at the screen's edge, never wrapped."""
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.0f} s"


def frame(
    overview: Overview | None, *, now: float, url: str, away_since: float | None, height: int = 24
) -> RenderableType:
    """The whole screen; `overview` is the last one read (None before the first), `away_since`
    when Redis stopped answering (None while it answers)."""
    from rich.console import Group
    from rich.text import Text

    helpers = f"  {overview.helpers} helpers" if overview is not None else ""
    title = Text.assemble(("queuectl top", "bold"), f"  {clock_time(now)}  {url}{helpers}", no_wrap=True)
    title.append("   q quits", style="dim")
    parts: list[Any] = [_line(title)]
    if overview is None:
        parts.append(_line(Text("reading Redis ..." if away_since is None else "")))
    else:
        o = overview
        parts.append(
            _line(
                Text(
                    f"queued {o.queued_total}  running {o.running_total}  done {o.per_minute}/min  "
                    f"lateness p50 {_ms(o.lateness_p50_ms)} p99 {_ms(o.lateness_p99_ms)} (n={o.lateness_count})"
                )
            )
        )
    if away_since is not None:
        seen = f"; showing what was read at {clock_time(overview.at)}" if overview is not None else ""
        parts.append(_line(Text(f"Redis unreachable since {clock_time(away_since)}{seen}", style="bold red")))
    else:
        parts.append(Text(""))
    if overview is None:
        return Group(*parts)

    dispatchers = _table(("DISPATCHER", 34, "left"), ("HOST", 16, "left"), ("LOAD", 9, "right"), ("BEAT", 12, "left"))
    shown = overview.dispatchers[:DISPATCHER_ROWS]
    for d in shown:
        beat = _when(d.get("last_beat"), now)
        dispatchers.add_row(d["id"], d.get("host") or "", f"{d['running']}/{d['concurrency']}", beat)
    more = len(overview.dispatchers) - len(shown)
    if not overview.dispatchers:
        dispatchers.add_row(Text("no dispatcher is running", style="yellow"), "", "", "")
    parts.append(dispatchers)
    if more > 0:
        parts.append(Text(f"... {more} more dispatchers", style="dim"))

    used = FIXED_LINES + max(1, len(shown)) + (1 if more > 0 else 0)
    room = max(1, height - used)
    running = _table(("RUNNING", 38, "left"), ("ELAPSED", 12, "right"), ("DISPATCHER", 26, "left"))
    rows = overview.running[:room]
    cut = overview.running_total - len(rows)
    if cut > 0 and rows:
        rows = rows[:-1]
        cut += 1
    for r in rows:
        elapsed = _span(max(0.0, now - r.started_at)) if r.started_at is not None else "-"
        running.add_row(r.execution_id, elapsed, r.dispatcher or "")
    if cut > 0:
        running.add_row(Text(f"... {cut} more running", style="dim"), "", "")
    elif not rows:
        running.add_row(Text("nothing is running", style="dim"), "", "")
    parts.append(running)

    due = _table(("NEXT DUE", 10, "left"), ("HELPER", 24, "left"), ("P", 1, "right"))
    for next_one in overview.next_due[:LIST_ROWS]:
        due.add_row(relative(next_one.execution_time, now), next_one.helper, str(next_one.priority))
    styles = {"success": "green", "error": "red", "expired": "yellow", "cancelled": "magenta"}
    last = _table(("AT", 8, "left"), ("LAST OUTCOMES", 13, "left"), ("STATUS", 7, "left"), ("TOOK", 7, "right"))
    for e in overview.outcomes[:LIST_ROWS]:
        finished = clock_time(e.finished_at) if e.finished_at is not None else "-"
        last.add_row(finished, e.helper, Text(e.status, style=styles.get(e.status, "")), _duration(e.duration))
    from rich.table import Table as Grid

    lists = Grid.grid(padding=(0, 2, 0, 0))
    lists.add_column(width=38, no_wrap=True)
    lists.add_column(width=39, no_wrap=True)
    lists.add_row(due, last)
    parts.append(lists)
    return Group(*parts)


def _when(iso_text: str | None, now: float) -> str:
    if not iso_text:
        return "-"
    from queuectl.domain.models import parse_iso

    return relative(parse_iso(iso_text), now)
