"""`queuectl history --follow`: print what store/follow.py finds, as it finds it.

NDJSON with --json (one object a line, the `history --json` object), else one fixed-width line
per execution under a header printed once. Ctrl-C ends it with exit 0; a closed pipe too.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

from queuectl.cli.render import err, local_time, quiet_stdout

if TYPE_CHECKING:
    from queuectl.domain.models import Execution
    from queuectl.infra.app import App
    from queuectl.store.views import HistoryQuery

HEADER = f"{'FINISHED':<19}  {'STATUS':<7}  {'DURATION':>9}  {'EXECUTION':<32}  ERROR"


def row_text(e: Execution) -> str:
    """One execution as a line under HEADER."""
    duration = f"{e.duration * 1000:.0f} ms" if e.duration is not None and e.duration < 10 else ""
    if e.duration is not None and e.duration >= 10:
        duration = f"{e.duration:.1f} s"
    detail = e.error or (e.reason if e.status != "success" else "") or ""
    detail = detail.splitlines()[0] if detail else ""
    return f"{local_time(e.finished_at):<19}  {e.status:<7}  {duration:>9}  {e.execution_id:<32}  {detail}".rstrip()


def follow_history(app: App, query: HistoryQuery, *, as_json: bool) -> int:
    """Print executions as they finish until Ctrl-C; the exit code (0)."""
    from queuectl.store.follow import HistoryCursor, Outage, follow

    cursor = HistoryCursor(helper=query.helper, status=query.status)
    out = sys.stdout
    try:
        if not as_json:
            out.write(HEADER + "\n")
            out.flush()
        for item in follow(app, cursor, sleep=time.sleep, monotonic=time.monotonic):
            if isinstance(item, Outage):
                if item.error is not None:
                    err(f"Redis unreachable: {item.error}; trying again every second")
                else:
                    err("Redis answers again; following on")
                continue
            for e in item:
                out.write((json.dumps(e.to_json(), ensure_ascii=False) if as_json else row_text(e)) + "\n")
            out.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `| head`: the reader is gone, which is not an error
        quiet_stdout()
        return 0
    return 0
