"""The Typer application behind `queuectl`: global options and the command tree."""

from __future__ import annotations

from pathlib import Path

import typer

from queuectl import __version__
from queuectl.cli.base import CliState
from queuectl.cli.options import given, setting_option

app = typer.Typer(
    name="queuectl",
    help="A Redis-backed scheduled execution queue: helpers, a 2-hour lookahead, one dispatcher loop.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"queuectl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    redis_url: str | None = setting_option("redis_url"),
    helpers_dir: Path | None = setting_option("helpers_dir"),
    insecure_tls: bool = setting_option("insecure_tls"),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log detail."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """queuectl: scheduled helpers on Redis. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input.

    Settings come from flags, then env vars, then ./queuectl.toml (or QUEUECTL_CONFIG), then defaults;
    `queuectl config` shows the result.
    """
    ctx.obj = CliState(
        flags=given({"redis_url": redis_url, "helpers_dir": helpers_dir, "insecure_tls": insecure_tls}),
        verbose=verbose,
        debug=debug,
    )


from queuectl.cli import audit as _audit  # noqa: E402
from queuectl.cli import executions as _executions  # noqa: E402
from queuectl.cli import helpers as _helpers  # noqa: E402
from queuectl.cli import history as _history  # noqa: E402
from queuectl.cli import queue as _queue  # noqa: E402
from queuectl.cli import run as _run  # noqa: E402
from queuectl.cli import serve as _serve  # noqa: E402
from queuectl.cli import server as _server  # noqa: E402
from queuectl.cli import settings as _settings  # noqa: E402
from queuectl.cli import status as _status  # noqa: E402
from queuectl.cli import top as _top  # noqa: E402

app.add_typer(_helpers.app, name="helpers")
app.add_typer(_queue.app, name="queue")
app.add_typer(_executions.app, name="executions")
app.command("run")(_run.run)
app.command("history")(_history.history)
app.command("status")(_status.status)
app.command("top")(_top.top)
app.command("config")(_settings.config)
app.command("serve")(_serve.serve)
app.add_typer(_server.app, name="server")
app.command("audit")(_audit.audit)
