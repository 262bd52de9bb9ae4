"""`queuectl top`: a live view of the system, refreshed every second until `q` (or Ctrl-C).

The data comes from one core call per refresh (views.overview, that is store/overview.gather,
which `GET /overview` answers with too); this module only keeps time, reads keys and hands each
Overview to the frame (cli/top_view.py). When Redis stops answering, the last frame stays up
with "Redis unreachable since HH:MM:SS" and each refresh tries again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from queuectl.cli.base import handle_errors, state

if TYPE_CHECKING:
    import threading

#: Seconds between refreshes.
REFRESH = 1.0
#: Seconds any one Redis call of a refresh may take before Redis counts as unreachable.
SOCKET_TIMEOUT = 2.0
#: Longest wait for a key between checks for SIGTERM.
KEY_WAIT = 0.2


@handle_errors
def top(ctx: typer.Context) -> None:
    """Live view: dispatchers and their load, running executions, the next due, the last outcomes,
    executions per minute and lateness; refreshed every second, `q` quits (Ctrl-C and SIGTERM
    too, exit 0)."""
    import time

    from rich.console import Console
    from rich.live import Live

    from queuectl.cli.terminal import KeyReader
    from queuectl.cli.top_view import frame
    from queuectl.domain.errors import RedisUnavailable
    from queuectl.infra.app import open_app
    from queuectl.store import views
    from queuectl.store.overview import Overview

    console = Console()
    if not console.is_terminal:
        from queuectl.domain.errors import InvalidInput

        raise InvalidInput("queuectl top draws on a terminal; for scripts use `queuectl status --json`")
    app = open_app(state(ctx).settings(), socket_timeout=SOCKET_TIMEOUT)
    overview: Overview | None = None
    away_since: float | None = None
    stop = _stop_on_sigterm()
    try:
        with KeyReader() as keys, Live(console=console, screen=True, auto_refresh=False) as live:
            while not stop.is_set():
                began = time.monotonic()
                try:
                    overview = views.overview(app)
                    away_since = None
                except RedisUnavailable:
                    if away_since is None:
                        away_since = app.clock.time()
                view = frame(
                    overview, now=app.clock.time(), url=app.safe_url, away_since=away_since, height=console.height
                )
                live.update(view, refresh=True)
                while not stop.is_set() and (left := began + REFRESH - time.monotonic()) > 0:
                    if keys.read(min(left, KEY_WAIT)) in ("q", "Q"):
                        return
    except KeyboardInterrupt:
        return


def _stop_on_sigterm() -> threading.Event:
    """An event SIGTERM sets: the loop ends as on `q`, so the terminal is restored (the handler
    only records the signal)."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    return stop
