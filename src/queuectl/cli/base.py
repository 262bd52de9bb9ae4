"""What every Typer command shares: the global options' state and the error-to-exit-code rule.

Global options build a `CliState` kept in `ctx.obj` (never a module global). Errors are mapped
to exit codes in one place (`handle_errors`): 2 for bad usage or input, 1 for runtime failures,
one line on stderr, no traceback unless --debug. Kept apart from cli/commands.py so the command
modules can import it without an import cycle.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from queuectl.infra.app import App
    from queuectl.infra.config import Settings

F = TypeVar("F", bound=Callable[..., Any])

#: The `--json` option every read and change command takes.
JSON_OPTION: Any = typer.Option(False, "--json", help="Machine-readable output on stdout.")
#: The `--reason` option every operator change takes (recorded in the audit trail).
REASON_OPTION: Any = typer.Option(
    None, "--reason", help="Why: recorded with the change in the audit trail (`queuectl audit`)."
)


@dataclass
class CliState:
    """Values given as flags on the command line (others come from env, file or defaults)."""

    flags: dict[str, Any] = field(default_factory=dict)
    verbose: int = 0
    debug: bool = False
    _app: App | None = field(default=None, repr=False)

    def settings(self, **run_flags: Any) -> Settings:
        from queuectl.infra.config import resolve

        return resolve({**self.flags, **run_flags})

    def app(self, **run_flags: Any) -> App:
        from queuectl.infra.app import open_app

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


def handle_errors(func: F) -> F:
    """Turn queuectl and Redis errors into one stderr line and the right exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from queuectl.cli.render import err, report_error
        from queuectl.domain.errors import QueuectlError

        debug = "--debug" in sys.argv
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:  # `| head`: the reader went away, which is not an error
            from queuectl.cli.render import quiet_stdout

            quiet_stdout()
            raise typer.Exit(0) from None
        except (QueuectlError, KeyboardInterrupt) as exc:
            raise typer.Exit(report_error(exc)) from None
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
    """The one line for a redis-py error that reached the CLI without being mapped (None when
    `exc` is not one: redis-py is only asked when something already imported it)."""
    from queuectl.infra.connection import describe_redis_error, is_redis_error

    if not is_redis_error(exc):
        return None
    ctx = next((a for a in list(args) + list(kwargs.values()) if isinstance(a, typer.Context)), None)
    url = state(ctx).redis_url if ctx is not None else os.environ.get("REDIS_URL", "")
    return describe_redis_error(exc, url or "")
