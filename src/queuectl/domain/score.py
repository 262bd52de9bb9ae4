"""The queue score: `executionTime * 10 + priority`, so the ZSET orders by time, then priority.

One pair encodes and decodes it here; `score_of` and `split_score` in store/lua/_lib.lua are its
only Lua twins. Two executions at different seconds differ by at least 10, and scores stay exact
integers far beyond the year 2100 (4102444800 * 10 + 5 is about 4.1e10, far below 2**53).
"""

from __future__ import annotations

import math

PRIORITIES = range(1, 6)  # 1 runs first


def encode_score(execution_time: int, priority: int) -> int:
    """The score of an execution at `execution_time` (whole Unix seconds) with `priority` 1..5."""
    return execution_time * 10 + priority


def decode_score(score: float) -> tuple[int, int]:
    """(executionTime, priority) of a score; ValueError for one queuectl never writes."""
    if not math.isfinite(score) or score != int(score):
        raise ValueError(f"not a queue score: {score!r}")
    execution_time, priority = divmod(int(score), 10)
    if priority not in PRIORITIES:
        raise ValueError(f"not a queue score: {score!r} (priority {priority})")
    return execution_time, priority


def score_time(score: float) -> int | None:
    """The second a score falls due at, or None for one that is not a queue score (+inf, -inf)."""
    if not math.isfinite(score):
        return None
    return int(score) // 10


def last_score_of(second: int) -> int:
    """The highest score due at `second` (for `ZRANGEBYSCORE ... -inf last_score_of(now)`)."""
    return second * 10 + 9
