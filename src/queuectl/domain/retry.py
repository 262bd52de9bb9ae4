"""When a failed execution runs again: exponential backoff with jitter, only while its expiry has
not passed. Pure: the schedule, the attempt and the times in, the retry time (or None) out."""

from __future__ import annotations

from queuectl.domain.schedule import ScheduleConfig

#: Longest wait between two attempts of a failed execution, seconds.
RETRY_CAP = 3600.0


def retry_delay(config: ScheduleConfig, attempt: int, jitter: float) -> float | None:
    """Seconds to wait before attempt `attempt + 1` after attempt `attempt` failed, or None when
    the schedule allows no more. `jitter` in [0.5, 1] spreads the retries of many executions
    that failed together (the caller draws it at random)."""
    if attempt > config.retries:
        return None
    return min(RETRY_CAP, config.retry_backoff * 2.0 ** (attempt - 1)) * jitter


def retry_at(
    config: ScheduleConfig, *, attempt: int, failed_at: float, execution_time: float, expiry: float, jitter: float
) -> float | None:
    """When to start the next attempt, or None: no retries left, or it would start past the
    execution's deadline (executionTime + executionExpiry)."""
    delay = retry_delay(config, attempt, jitter)
    if delay is None:
        return None
    when = failed_at + delay
    return when if when <= execution_time + expiry else None
