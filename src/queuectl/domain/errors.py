"""One error tree for the whole tool.

Each error carries the exit code the CLI must use, so the CLI maps errors to exit codes in one
place and never prints a traceback for a user mistake: 2 for bad usage or invalid input, 1 for
runtime failures.
"""

from __future__ import annotations


class QueuectlError(Exception):
    """Root of every error queuectl raises on purpose."""

    exit_code: int = 1


class InvalidInput(QueuectlError):
    """The user (or a helper's code) gave something we refuse; nothing was changed."""

    exit_code = 2


class InvalidSchedule(InvalidInput):
    """A schedule config failed validation; the message names the key and the value."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        super().__init__(f"invalid schedule: {key}={_show(value)}: {reason}")


class NotFound(InvalidInput):
    """The thing a command named does not exist (the HTTP API answers 404)."""


class UnknownHelper(NotFound):
    """A command named a helper that is not in the catalog."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown helper: {name!r} (see 'queuectl helpers list')")


class UnknownExecution(NotFound):
    """An execution id that has neither a hash nor a queue entry (never planned, or pruned)."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(f"unknown execution: {execution_id!r} (history keeps finished ones 24 h)")


class HelperLoadError(QueuectlError):
    """Discovery found something it cannot accept as a whole (two helpers with one name)."""

    exit_code = 2


class RedisUnavailable(QueuectlError):
    """Redis could not be reached or answered with an error; the message never holds a password."""

    exit_code = 1


class ConcurrentChange(QueuectlError):
    """Another process kept changing the same record; the change was not applied."""

    exit_code = 1


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
