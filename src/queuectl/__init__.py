"""queuectl: a Redis-backed scheduled execution queue with a command-line front.

Helper authors need only `from queuectl import BaseHelper` (and `ExecutionContext` for type
hints). They are loaded on first use so the CLI does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["BaseHelper", "ExecutionContext", "__version__"]

if TYPE_CHECKING:
    from queuectl.helper import BaseHelper, ExecutionContext


def __getattr__(name: str) -> Any:
    if name in ("BaseHelper", "ExecutionContext"):
        from queuectl import helper

        return getattr(helper, name)
    raise AttributeError(f"module 'queuectl' has no attribute {name!r}")
