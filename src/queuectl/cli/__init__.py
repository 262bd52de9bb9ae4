"""The `queuectl` command line. This module is the entry point and stays import-light.

`main` first offers the command to the lean front (cli/fast.py), which serves the common shapes
of the read-only commands without importing typer, click, rich or redis-py; anything else goes
to the Typer application in cli/commands.py. `app`, `CliState`, `state`, `handle_errors` and
`given_flags` are still importable from here: they are loaded from cli/commands.py on first use.
"""
from __future__ import annotations

import sys
from typing import Any

_FROM_COMMANDS = ("app", "CliState", "state", "handle_errors", "given_flags", "exit_with")


def main() -> None:
    """The console script: exits with the command's status."""
    from .fast import run

    code = run(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)  # stdout is flushed at exit, as after click's own exit
    from .commands import app

    app(prog_name="queuectl")


def __getattr__(name: str) -> Any:
    if name in _FROM_COMMANDS:
        from . import commands

        return getattr(commands, name)
    raise AttributeError(f"module 'queuectl.cli' has no attribute {name!r}")
