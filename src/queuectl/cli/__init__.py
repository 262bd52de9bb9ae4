"""The `queuectl` command line: parses arguments, calls one core function, prints.

Global options build a `CliState` kept in `ctx.obj` (never a module global). Errors are mapped
to exit codes in one place (`handle_errors`): 2 for bad usage or input, 1 for runtime failures,
one line on stderr, no traceback unless --debug.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import typer

from .. import __version__

if TYPE_CHECKING:
    from ..app import App
    from ..config import Settings

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="queuectl",
    help="A Redis-backed scheduled execution queue: helpers, a 2-hour lookahead, one dispatcher loop.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class CliState:
    """Values given as flags on the command line (others come from env, file or defaults)."""

    flags: dict[str, Any] = field(default_factory=dict)
    verbose: int = 0
    debug: bool = False
    _app: Any = field(default=None, repr=False)

    def settings(self, **run_flags: Any) -> "Settings":
        from ..config import resolve

        return resolve({**self.flags, **run_flags})

    def app(self, **run_flags: Any) -> "App":
        from ..app import open_app

        if self._app is None or run_flags:
            self._app = open_app(self.settings(**run_flags))
        return self._app

    @property
    def redis_url(self) -> str | None:
        try:
            return self.settings().redis_url
        except Exception:  # noqa: BLE001 - only used to name the URL in an error message
            return None


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):  # invoked without the root callback (tests)
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def given_flags(ctx: typer.Context, **values: Any) -> dict[str, Any]:
    """Keep only the options the user typed (env and defaults are resolved by config.resolve)."""
    out = {}
    for name, value in values.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name == "COMMANDLINE":
            out[name] = value
    return out


def handle_errors(func: F) -> F:
    """Turn queuectl and Redis errors into one stderr line and the right exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..errors import QueuectlError
        from .render import err

        debug = "--debug" in sys.argv
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except QueuectlError as exc:
            err(f"Error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err("Interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001
            redis_error = _redis_error_message(exc, args, kwargs)
            if redis_error:
                err(f"Error: {redis_error}")
                raise typer.Exit(1) from None
            if debug:
                raise
            err(f"Error: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _redis_error_message(exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    mod = type(exc).__module__ or ""
    if not mod.startswith("redis"):
        return None
    from ..connection import describe_redis_error

    ctx = next((a for a in list(args) + list(kwargs.values()) if isinstance(a, typer.Context)), None)
    url = state(ctx).redis_url if ctx is not None else os.environ.get("REDIS_URL", "")
    return describe_redis_error(exc, url or "")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"queuectl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    redis_url: Optional[str] = typer.Option(
        None, "--redis-url", show_envvar=False,
        help="Redis to use (env REDIS_URL): redis://[:password@]host:port/db, rediss://..., "
             "unix:///path.sock. Unset: the embedded default server."),
    helpers_dir: Optional[Path] = typer.Option(
        None, "--helpers-dir", help="Directory of helper files, *.py (env QUEUECTL_HELPERS_DIR; default ./helpers)."),
    insecure_tls: bool = typer.Option(False, "--insecure-tls",
                                      help="Allow rediss:// URLs with ssl_cert_reqs=none (logs a warning)."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log detail."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """queuectl: scheduled helpers on Redis. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input.

    Settings come from flags, then env vars, then ./queuectl.toml (or QUEUECTL_CONFIG), then defaults;
    `queuectl config` shows the result.
    """
    ctx.obj = CliState(flags=given_flags(ctx, redis_url=redis_url, helpers_dir=helpers_dir,
                                         insecure_tls=insecure_tls or None),
                       verbose=verbose, debug=debug)


from . import helpers as _helpers  # noqa: E402
from . import history as _history  # noqa: E402
from . import queue as _queue  # noqa: E402
from . import run as _run  # noqa: E402
from . import server as _server  # noqa: E402
from . import settings as _settings  # noqa: E402
from . import status as _status  # noqa: E402

app.add_typer(_helpers.app, name="helpers")
app.add_typer(_queue.app, name="queue")
app.command("run")(_run.run)
app.command("history")(_history.history)
app.command("status")(_status.status)
app.command("config")(_settings.config)
app.add_typer(_server.app, name="server")


def main() -> None:
    app(prog_name="queuectl")
