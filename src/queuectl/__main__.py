"""`python -m queuectl` is the CLI."""
from .cli import main

main()
