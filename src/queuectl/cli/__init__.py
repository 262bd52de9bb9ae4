"""The `queuectl` command line: one Typer application (cli/commands.py), one file per command
group. Commands parse arguments, call one core function and print; each imports the core inside
its body, so a command loads only what it uses."""

from __future__ import annotations

from queuectl.cli.commands import app

__all__ = ["app", "main"]


def main() -> None:
    """The console script: exits with the command's status."""
    app(prog_name="queuectl")
