"""Retries of a failed execution: exponential backoff with jitter, capped, only while retries are
left and only before the execution's deadline (executionTime + expiry)."""

from __future__ import annotations

from typing import Any

import pytest

from queuectl.domain.retry import RETRY_CAP, retry_at, retry_delay
from queuectl.domain.schedule import ScheduleConfig, parse_schedule


def config(**keys: Any) -> ScheduleConfig:
    return parse_schedule({"type": "interval", "interval_seconds": 3600, **keys}, default_timezone="UTC")


def test_no_retries_by_default() -> None:
    """A schedule that names no `retries` never retries, however early it failed."""
    plain = config()
    assert plain.retries == 0
    assert retry_delay(plain, 1, 1.0) is None
    assert retry_at(plain, attempt=1, failed_at=1000.0, execution_time=1000.0, expiry=86400.0, jitter=1.0) is None


@pytest.mark.parametrize("attempt, base", [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (5, 160.0), (6, 320.0)])
@pytest.mark.parametrize("jitter", [1.0, 0.75, 0.5])
def test_exponential_growth_times_jitter(attempt: int, base: float, jitter: float) -> None:
    """The default backoff of 10 s doubles with each attempt: 10, 20, 40... times the jitter."""
    assert retry_delay(config(retries=10), attempt, jitter) == pytest.approx(base * jitter)


def test_backoff_is_the_first_delay() -> None:
    """`retry_backoff` sets the first wait, and the doubling applies from there."""
    cfg = config(retries=5, retry_backoff=3)
    assert [retry_delay(cfg, a, 1.0) for a in (1, 2, 3)] == pytest.approx([3.0, 6.0, 12.0])


def test_delay_is_capped() -> None:
    """No wait exceeds RETRY_CAP (before jitter): 10 * 2**8 = 2560 is kept, 10 * 2**9 = 5120 is not."""
    assert RETRY_CAP == 3600.0
    cfg = config(retries=100)
    assert retry_delay(cfg, 9, 1.0) == pytest.approx(2560.0)
    assert retry_delay(cfg, 10, 1.0) == pytest.approx(RETRY_CAP)
    assert retry_delay(cfg, 100, 1.0) == pytest.approx(RETRY_CAP)
    assert retry_delay(cfg, 100, 0.5) == pytest.approx(RETRY_CAP / 2)
    assert retry_delay(config(retries=1, retry_backoff=86400), 1, 1.0) == pytest.approx(RETRY_CAP)


@pytest.mark.parametrize("attempt", [1, 2, 5, 12])
def test_jitter_bounds(attempt: int) -> None:
    """With jitter in [0.5, 1] the delay lies between half the backoff and the full backoff, and
    grows with the jitter (so the spread is real, not a constant)."""
    cfg = config(retries=20)
    full = retry_delay(cfg, attempt, 1.0)
    assert full is not None
    delays = [retry_delay(cfg, attempt, j / 10) for j in range(5, 11)]
    assert all(d is not None and full / 2 <= d <= full for d in delays)
    assert delays == sorted(delays)
    assert delays[0] == pytest.approx(full / 2)
    assert delays[0] < delays[-1]


def test_none_once_attempts_exceed_retries() -> None:
    """`retries: 3` allows retries after attempts 1, 2 and 3 (four attempts in all), none after."""
    cfg = config(retries=3)
    assert [retry_delay(cfg, a, 1.0) is not None for a in (1, 2, 3, 4, 5)] == [True, True, True, False, False]
    assert retry_at(cfg, attempt=4, failed_at=1000.0, execution_time=1000.0, expiry=86400.0, jitter=1.0) is None


def test_retry_at_is_failure_plus_delay() -> None:
    """The next attempt starts one (jittered) delay after the failure."""
    cfg = config(retries=3, expiry=600)
    assert retry_at(
        cfg, attempt=2, failed_at=1030.0, execution_time=1000.0, expiry=cfg.expiry, jitter=0.5
    ) == pytest.approx(1040.0)


@pytest.mark.parametrize(
    "failed_at, expected",
    [
        (1030.0, 1040.0),  # well before the deadline of 1060
        (1049.5, 1059.5),  # just before
        (1050.0, 1060.0),  # exactly at executionTime + expiry: still allowed
        (1050.5, None),  # half a second past it
        (1055.0, None),
        (1070.0, None),  # failed after the deadline already
    ],
)
def test_deadline(failed_at: float, expected: float | None) -> None:
    """No retry may start after executionTime + expiry (1000 + 60 here); exactly at it is fine."""
    cfg = config(retries=5, expiry=60)
    got = retry_at(cfg, attempt=1, failed_at=failed_at, execution_time=1000.0, expiry=cfg.expiry, jitter=1.0)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_deadline_uses_the_expiry_argument() -> None:
    """The deadline is the `expiry` passed in (the execution's own), not only the schedule's."""
    cfg = config(retries=5, expiry=60)
    assert retry_at(cfg, attempt=1, failed_at=1080.0, execution_time=1000.0, expiry=100.0, jitter=1.0) == pytest.approx(
        1090.0
    )
    assert retry_at(cfg, attempt=1, failed_at=1080.0, execution_time=1000.0, expiry=60.0, jitter=1.0) is None
