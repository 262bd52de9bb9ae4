"""`queuectl run`: the long-running dispatcher (or one pass with --once)."""
from __future__ import annotations

import typer

from queuectl.infra.config import DEFAULT_CONCURRENCY, DEFAULT_EXPAND_EVERY, DEFAULT_GRACE, DEFAULT_HISTORY_TTL, DEFAULT_LEASE, DEFAULT_TICK, DEFAULT_WINDOW
from queuectl.cli.base import handle_errors, state


@handle_errors
def run(
    ctx: typer.Context,
    window: float = typer.Option(DEFAULT_WINDOW, "--window", envvar="QUEUECTL_WINDOW", min=1,
                                 help="Lookahead in seconds: every occurrence this far ahead is queued."),
    expand_every: float = typer.Option(DEFAULT_EXPAND_EVERY, "--expand-every", envvar="QUEUECTL_EXPAND_EVERY",
                                       min=0.1, help="Seconds between window extensions (and helper rescans)."),
    tick: float = typer.Option(DEFAULT_TICK, "--tick", envvar="QUEUECTL_TICK", min=0.01,
                               help="Longest sleep in seconds between checks for changes by other processes."),
    concurrency: int = typer.Option(DEFAULT_CONCURRENCY, "--concurrency", "-c", envvar="QUEUECTL_CONCURRENCY",
                                    min=1, max=1000, help="Executions run at once (worker processes)."),
    grace: float = typer.Option(DEFAULT_GRACE, "--grace", envvar="QUEUECTL_GRACE", min=0,
                                help="On SIGINT/SIGTERM, seconds to let running executions finish."),
    lease: float = typer.Option(DEFAULT_LEASE, "--lease", envvar="QUEUECTL_LEASE", min=0.5,
                                help="Seconds a claim lives without renewal (renewed every lease/3)."),
    history_ttl: float = typer.Option(DEFAULT_HISTORY_TTL, "--history-ttl", envvar="QUEUECTL_HISTORY_TTL", min=1,
                                      help="Seconds finished executions are kept in history."),
    memory_limit: int = typer.Option(0, "--memory-limit", envvar="QUEUECTL_MEMORY_LIMIT", min=0,
                                     help="MB of memory per helper process; a helper past it fails with "
                                          "MemoryError (reason memory). 0 = no cap."),
    once: bool = typer.Option(False, "--once", help="Register, plan, run what is due now, wait, exit "
                                                   "(exit 1 if anything it ran failed)."),
) -> None:
    """Run the dispatcher: discover helpers, plan the window, run executions as they fall due."""
    from queuectl.infra import logs
    from queuectl.runtime.dispatcher import Dispatcher, DispatcherOptions
    from queuectl.cli.base import given_flags

    st = state(ctx)
    logs.setup(st.verbose)
    flags = given_flags(ctx, window=window, expand_every=expand_every, tick=tick, concurrency=concurrency,
                        grace=grace, lease=lease, history_ttl=history_ttl, memory_limit=memory_limit)
    app = st.app(**flags)
    s = app.settings
    options = DispatcherOptions(helpers_dir=s.helpers_dir, concurrency=s.concurrency, tick=s.tick, window=s.window,
                                expand_every=s.expand_every, grace=s.grace, lease=s.lease,
                                history_ttl=s.history_ttl, memory_limit=s.memory_limit, once=once)
    code = Dispatcher(app, options).run()
    raise typer.Exit(code)
