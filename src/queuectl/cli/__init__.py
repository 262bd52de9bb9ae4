"""The `queuectl` command line: one Typer application (cli/commands.py), one file per command
group. Commands parse arguments, call one core function and print; each imports the core inside
its body, so a command loads only what it uses."""

from __future__ import annotations

from queuectl.cli.commands import app

__all__ = ["app", "main"]


def main() -> None:
    """The console script: exits with the command's status. A reader that went away (`| head`)
    is not an error: the output stops quietly, whether the pipe broke while the command printed
    or when its last output is flushed at exit."""
    import sys

    from queuectl.cli.render import quiet_stdout

    try:
        app(prog_name="queuectl", standalone_mode=True)
    except SystemExit as exit_:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            quiet_stdout()
        raise SystemExit(exit_.code) from None
