"""`queuectl run`: the long-running dispatcher (or one pass with --once)."""

from __future__ import annotations

import logging
import os

import typer

from queuectl.cli.base import handle_errors, state
from queuectl.cli.options import given, setting_option


@handle_errors
def run(
    ctx: typer.Context,
    window: float | None = setting_option("window"),
    expand_every: float | None = setting_option("expand_every"),
    tick: float | None = setting_option("tick"),
    concurrency: int | None = setting_option("concurrency"),
    grace: float | None = setting_option("grace"),
    lease: float | None = setting_option("lease"),
    history_ttl: float | None = setting_option("history_ttl"),
    memory_limit: int | None = setting_option("memory_limit"),
    log_format: str | None = setting_option("log_format"),
    once: bool = typer.Option(
        False, "--once", help="Register, plan, run what is due now, wait, exit (exit 1 if anything it ran failed)."
    ),
) -> None:
    """Run the dispatcher: discover helpers, plan the window, run executions as they fall due."""
    from queuectl.domain.errors import QueuectlError
    from queuectl.infra import logs
    from queuectl.runtime.dispatcher import Dispatcher

    st = state(ctx)
    flags = given(
        {
            "window": window,
            "expand_every": expand_every,
            "tick": tick,
            "concurrency": concurrency,
            "grace": grace,
            "lease": lease,
            "history_ttl": history_ttl,
            "memory_limit": memory_limit,
            "log_format": log_format,
        }
    )
    fmt = st.settings(**flags).log_format
    logs.setup(st.verbose, fmt=fmt)
    # the workers log helpers' own lines in the same format (runtime/worker.py reads it)
    pool_env = {**os.environ, "QUEUECTL_LOG_FORMAT": fmt}
    try:
        code = Dispatcher(st.app(**flags), once=once, pool_env=pool_env).run()
    except QueuectlError as exc:
        if fmt != "json":
            raise  # the usual one line on stderr (handle_errors)
        # a log shipper reading json gets the reason the dispatcher did not start as json too
        logging.getLogger(__name__).error(
            "Error: %s", exc, extra={"event": "dispatcher_failed", "exit_code": exc.exit_code}
        )
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(code)
