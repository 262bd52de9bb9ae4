"""`python -m queuectl` is the CLI."""

from queuectl.cli import main

main()
