"""What a user subclasses, and the one place that knows how to call it.

Helpers are plain user code: `run()` may be sync or `async def`, and may or may not want the
execution context. `call_run` hides those differences from the worker so the worker has one
call to make and one place to catch exceptions.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

__all__ = ["BaseHelper", "ExecutionContext", "call_run"]


@dataclass(frozen=True, kw_only=True)
class ExecutionContext:
    """Facts about one execution, handed to `run(ctx)` so a helper can log or deduplicate."""

    execution_id: str
    helper: str
    execution_time: datetime  # aware, UTC
    attempt: int  # 1 for the first attempt
    dispatcher_id: str | None = None

    def __post_init__(self) -> None:
        # A naive time would be silently misread as local time by helper code; refuse it here.
        if self.execution_time.tzinfo is None or self.execution_time.utcoffset() is None:
            raise ValueError("ExecutionContext.execution_time must be timezone-aware")
        if self.execution_time.utcoffset() != UTC.utcoffset(None):
            object.__setattr__(self, "execution_time", self.execution_time.astimezone(UTC))
        if self.attempt < 1:
            raise ValueError(f"ExecutionContext.attempt must be >= 1, got {self.attempt}")


class BaseHelper:
    """Subclass me. Define run() (plain or async def; it may take one optional argument, an
    ExecutionContext) and get_schedule_config().

    Set `name` to choose the helper's name (default: the file's stem); set `abstract = True`
    on a shared base class so discovery does not register it.
    """

    name: ClassVar[str | None] = None
    abstract: ClassVar[bool] = False

    def run(self, ctx: ExecutionContext | None = None) -> Any:
        """Do the work of one execution."""
        raise NotImplementedError(f"{type(self).__qualname__} does not define run()")

    def get_schedule_config(self) -> dict[str, Any]:
        """Say when to run, e.g. {"type": "daily", "time": "08:30:00", "priority": 1}."""
        raise NotImplementedError(f"{type(self).__qualname__} does not define get_schedule_config()")


# Per `run` function: (accepts a positional argument, is `async def`). Inspecting a signature
# is slow compared with a call, and a worker calls the same helper many times.
_run_shapes: weakref.WeakKeyDictionary[Callable[..., Any], tuple[bool, bool]] = weakref.WeakKeyDictionary()
_run_shapes_lock = threading.Lock()


def _run_shape(bound_run: Callable[..., Any]) -> tuple[bool, bool]:
    """(wants ctx, is a coroutine function) for a bound `run`, cached by its function."""
    key = getattr(bound_run, "__func__", bound_run)
    try:
        with _run_shapes_lock:
            cached = _run_shapes.get(key)
    except TypeError:  # not weak-referenceable: just compute it
        cached = None
    if cached is not None:
        return cached
    try:
        params = inspect.signature(bound_run).parameters.values()
    except (TypeError, ValueError):  # no signature available: assume the documented form
        wants_ctx = True
    else:
        wants_ctx = any(
            p.kind
            in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                inspect.Parameter.VAR_POSITIONAL,
            )
            for p in params
        )
    shape = (wants_ctx, inspect.iscoroutinefunction(bound_run))
    try:
        with _run_shapes_lock:
            _run_shapes[key] = shape
    except TypeError:
        pass
    return shape


def call_run(helper: BaseHelper, ctx: ExecutionContext) -> Any:
    """Call `helper.run`, passing ctx only if run takes an argument, awaiting it if async.

    Exceptions propagate: the caller records them as the execution's failure.
    """
    run = helper.run
    wants_ctx, is_async = _run_shape(run)
    result = run(ctx) if wants_ctx else run()
    if is_async or inspect.iscoroutine(result):
        return asyncio.run(result)
    return result
