"""`queuectl serve`: the HTTP management API, the dashboard and /metrics, on uvicorn.

The web stack (FastAPI, uvicorn, pydantic) is imported inside the command only: the other
commands' cold start must not pay for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from queuectl.cli.base import handle_errors, state
from queuectl.cli.render import err

if TYPE_CHECKING:
    import socket

#: Seconds a Redis call of the server may block: a request answers 503 well within 5 s.
SOCKET_TIMEOUT = 3.0


@handle_errors
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (reads need the token off loopback)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on (0: any free one)."),
    token_file: Path | None = typer.Option(
        None, "--token-file", help="File holding the API token (else env QUEUECTL_API_TOKEN)."
    ),
    token_name: str = typer.Option(
        "api", "--token-name", help="Who the audit trail says made the changes sent with the token."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request on stderr."),
) -> None:
    """Serve the HTTP API (docs at /docs), the dashboard (/) and Prometheus metrics (/metrics)."""
    from queuectl.api.auth import TOKEN_ENV, check_token_name, read_token
    from queuectl.infra.app import open_app
    from queuectl.infra.logs import setup

    cli_state = state(ctx)
    token = read_token(token_file, os.environ.get(TOKEN_ENV))
    token_name = check_token_name(token_name)
    sock = _bind(host, port)
    core = open_app(cli_state.settings(), socket_timeout=SOCKET_TIMEOUT)
    setup(cli_state.verbose)

    import uvicorn

    from queuectl.api.app import create_app

    api = create_app(core, token=token, host=host, token_name=token_name)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    note = "" if token else f"; no API token: changes are refused until {TOKEN_ENV} or --token-file is set"
    err(f"queuectl serve: http://{shown}:{bound}/ (API docs /docs, Redis {core.safe_url}){note}")
    config = uvicorn.Config(
        api,
        access_log=access_log,
        log_level="warning",
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    # open event streams (history/stream) end once the server is told to stop, rather than
    # holding the shutdown for its whole grace period
    api.state.stopping = lambda: server.should_exit
    _quiet_gc()
    server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a port in use is one clear line, not uvicorn's log."""
    import socket

    from queuectl.domain.errors import QueuectlError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise QueuectlError(f"cannot listen on {host!r}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno in (98, 48) else (exc.strerror or str(exc))
        raise QueuectlError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def _quiet_gc() -> None:
    """Fewer, shorter garbage collections while serving: what start-up built (modules, the app)
    is frozen out of the collector's view, and the young generation is collected less often
    (each request makes short-lived objects only). A full collection otherwise stalls the event
    loop for milliseconds and shows in the p99 latency."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
