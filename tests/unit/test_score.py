"""The queue score `executionTime * 10 + priority`: it must decode back exactly, order by time
then priority, and refuse any score queuectl never writes (the Lua twins rely on the same rule)."""

from __future__ import annotations

import itertools
import math

import pytest

from queuectl.domain.score import (
    PRIORITIES,
    decode_score,
    encode_score,
    last_score_of,
    score_time,
)

INF = float("inf")
NAN = float("nan")

# 1970, 2001, 2026, the year 2100 (4102444800 = 2100-01-01T00:00:00Z) and a second before 2200.
TIMES = [0, 1, 9, 10, 1_000_000_000, 1_796_000_000, 4_102_444_800, 4_102_444_799, 7_258_118_399]


def test_priorities_are_one_to_five() -> None:
    """The score keeps one decimal digit for priority: 1 runs first, 5 last, nothing else."""
    assert list(PRIORITIES) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("execution_time", TIMES)
@pytest.mark.parametrize("priority", [1, 2, 3, 4, 5])
def test_round_trip_is_exact(execution_time: int, priority: int) -> None:
    """Redis hands scores back as doubles: the score must be an exact integer below 2**53, so the
    float decodes to the same (time, priority), even for year-2100 times."""
    score = encode_score(execution_time, priority)
    assert isinstance(score, int)
    assert score < 2**53
    assert float(score) == score
    assert decode_score(score) == (execution_time, priority)
    assert decode_score(float(score)) == (execution_time, priority)
    assert score_time(float(score)) == execution_time


def test_year_2100_score_value() -> None:
    """The docstring's worked example: 2100-01-01T00:00:00Z at priority 5."""
    assert encode_score(4_102_444_800, 5) == 41_024_448_005


@pytest.mark.parametrize(
    "t1, t2", [(0, 1), (1_796_000_000, 1_796_000_001), (4_102_444_799, 4_102_444_800), (10, 1_000_000_000)]
)
def test_earlier_second_sorts_first_whatever_the_priorities(t1: int, t2: int) -> None:
    """Time wins over priority: priority 5 at one second still runs before priority 1 a second later."""
    for p1, p2 in itertools.product(PRIORITIES, PRIORITIES):
        assert encode_score(t1, p1) < encode_score(t2, p2), (t1, p1, t2, p2)


def test_within_a_second_priority_one_runs_first() -> None:
    """Within one second the scores order strictly by priority, 1 before 5."""
    t = 1_796_000_000
    scores = [encode_score(t, p) for p in PRIORITIES]
    assert scores == sorted(scores)
    assert len(set(scores)) == 5
    assert encode_score(t, 1) < encode_score(t, 5)


@pytest.mark.parametrize(
    "score",
    [INF, -INF, NAN, 17_960_000_003.5, 0.25, 10.0, 17_960_000_000, 16, 17, 18, 19, 17_960_000_006, 17_960_000_009.0],
    ids=[
        "+inf",
        "-inf",
        "nan",
        "fraction",
        "small-fraction",
        "prio0-float",
        "prio0",
        "prio6",
        "prio7",
        "prio8",
        "prio9",
        "big-prio6",
        "big-prio9-float",
    ],
)
def test_decode_refuses_scores_never_written(score: float) -> None:
    """Infinities, NaN, fractions and priorities 0 or 6..9 are not queue scores: decode must
    refuse them (ValueError naming the score) rather than invent an execution."""
    with pytest.raises(ValueError) as info:
        decode_score(score)
    assert "score" in str(info.value)


@pytest.mark.parametrize("score", [INF, -INF, NAN])
def test_score_time_of_non_finite_is_none(score: float) -> None:
    """+inf / -inf (range bounds) fall due at no second."""
    assert score_time(score) is None


@pytest.mark.parametrize(
    "score, second",
    [(17_960_000_001, 1_796_000_000), (17_960_000_005.0, 1_796_000_000), (41_024_448_003, 4_102_444_800), (15, 1)],
)
def test_score_time_of_a_queue_score(score: float, second: int) -> None:
    """The due second of a real score, whatever its priority digit."""
    assert score_time(score) == second


@pytest.mark.parametrize("second", TIMES)
def test_last_score_of_covers_the_second_and_stops_before_the_next(second: int) -> None:
    """`ZRANGEBYSCORE -inf last_score_of(now)` must take every priority due at `now` and
    nothing of the next second."""
    last = last_score_of(second)
    assert all(encode_score(second, p) <= last for p in PRIORITIES)
    assert all(encode_score(second + 1, p) > last for p in PRIORITIES)
    assert score_time(last) == second
    assert math.floor(last / 10) == second
