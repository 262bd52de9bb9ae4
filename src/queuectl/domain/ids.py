"""Execution ids, planned and manual, and the one way to read a helper and a time out of one.

A planned execution's id is `<helper>:<unix seconds>` (keys.execution_id): planning the same
occurrence twice gives the same id. A manual one (`queuectl helpers run`) is
`<helper>:manual-<unix milliseconds>-<4 hex>`: its last part is never all digits, so it can never
be a planned id, and two runs in the same millisecond still differ. Its execution time is the
second of those milliseconds. `_lib.lua`'s `split_id` is the Lua twin of `split_execution_id`.
"""

from __future__ import annotations

import re
import secrets

#: The part after the helper's name in a manual id.
MANUAL_RE = re.compile(r"manual-(\d{1,15})-([0-9a-f]{4})")
#: The largest planned seconds part read back (about the year 33658; more is not an id).
MAX_SECONDS_DIGITS = 12


def manual_execution_id(helper: str, now: float, nonce: str | None = None) -> str:
    """A fresh manual id for `helper` at `now` (Unix seconds)."""
    return f"{helper}:manual-{int(now * 1000)}-{nonce or secrets.token_hex(2)}"


def split_execution_id(execution_id: str) -> tuple[str, int] | None:
    """(helper, execution time in whole seconds) of a planned or manual id, or None when the
    text is not an execution id (an attempt record `<id>#<n>` is not one)."""
    helper, sep, rest = execution_id.rpartition(":")
    if not sep or not helper:
        return None
    if rest.isascii() and rest.isdigit() and len(rest) <= MAX_SECONDS_DIGITS:
        return helper, int(rest)
    found = MANUAL_RE.fullmatch(rest)
    if found:
        return helper, int(found.group(1)) // 1000
    return None


def is_manual(execution_id: str) -> bool:
    """True for an id `queuectl helpers run` made."""
    return MANUAL_RE.fullmatch(execution_id.rpartition(":")[2]) is not None
