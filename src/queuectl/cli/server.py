"""`queuectl server status|start|stop`: the embedded default Redis, managed openly."""

from __future__ import annotations

import typer

from queuectl.cli.base import handle_errors
from queuectl.cli.render import emit_json, err, line

app = typer.Typer(help="Manage the embedded default Redis (used when no REDIS_URL is set).", no_args_is_help=True)


@app.command("status")
@handle_errors
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout.")) -> None:
    """Is the embedded server running, where are its data, which process is it."""
    from queuectl.infra.embedded import info

    data = info()
    if as_json:
        emit_json(data)
    else:
        line(f"embedded Redis: {'running' if data['running'] else 'stopped'}")
        line(f"data dir:       {data['data_dir']}")
        line(f"socket:         {data['socket']}")
        if data["running"]:
            up = f"(pid {data.get('pid')}, up {data.get('uptime_seconds')} s)"
            line(f"version:        {data.get('redis_version')} {up}")
        line(f"stops itself:   after {data['idle_shutdown_seconds']:g} s without clients (QUEUECTL_EMBEDDED_IDLE)")
    if not data["running"]:
        raise typer.Exit(3)


@app.command("start")
@handle_errors
def start() -> None:
    """Start the embedded server now (queuectl also starts it on demand)."""
    from queuectl.infra.embedded import ensure_running, is_running

    if is_running():
        err("The embedded Redis is already running.")
        return
    ensure_running(announce=True)


@app.command("stop")
@handle_errors
def stop() -> None:
    """Stop the embedded server (data are flushed to disk and kept)."""
    from queuectl.infra.embedded import stop as do_stop

    if do_stop():
        err("Stopped the embedded Redis.")
    else:
        err("The embedded Redis was not running.")
