"""Durations and `--since` times as people type them: the forms accepted, the exact seconds they
mean, local time for ISO times without an offset, and refusals that name the bad text."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterator

import pytest

from queuectl.domain.errors import InvalidInput
from queuectl.domain.timetext import Since, parse_duration, parse_since


def utc_ts(*args: int) -> float:
    """Unix time of a UTC wall time (year, month, day, hour=0, minute=0, second=0)."""
    parts = list(args) + [0] * (6 - len(args))
    return float(calendar.timegm(tuple(parts) + (0, 0, 0)))  # type: ignore[arg-type]


@pytest.fixture()
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is America/New_York for the test, then back to what it was."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- parse_duration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("2.5", 2.5),
        ("1d2h3m4s", 86400.0 + 7200 + 180 + 4),
        (" 2H ", 7200.0),  # surrounding blanks and upper case are forgiven
        ("0", 0.0),
    ],
)
def test_parse_duration_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "   ", "-5m", "2 hours", "5x", "1h 30m", "h", "m5", "1.h", "1h-30m"])
def test_parse_duration_refusals(text: str) -> None:
    """Anything but digits with units, glued together, is refused with the text named."""
    with pytest.raises(InvalidInput) as info:
        parse_duration(text)
    assert repr(text.strip().lower()) in str(info.value)


# -- parse_since: spans -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds", [("2h", 7200.0), ("1h30m", 5400.0), ("90", 90.0), ("30m", 1800.0), ("1d", 86400.0), ("45s", 45.0)]
)
def test_parse_since_spans(text: str, seconds: float) -> None:
    """A span is kept as seconds back from now (not an absolute time)."""
    since = parse_since(text)
    assert since.at is None
    assert since.seconds_back == pytest.approx(seconds)


# -- parse_since: ISO 8601 times --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-29T14:00:00+01:00", utc_ts(2026, 11, 29, 13)),
        ("2026-11-29T14:00:00Z", utc_ts(2026, 11, 29, 14)),
        ("2026-11-29T14:00:00-05:30", utc_ts(2026, 11, 29, 19, 30)),
        ("20261129T1400Z", utc_ts(2026, 11, 29, 14)),
        ("2026-11-29 14:00+00:00", utc_ts(2026, 11, 29, 14)),
    ],
)
def test_parse_since_absolute_with_offset(text: str, expected: float, new_york: None) -> None:
    """A time naming its offset means exactly that instant, whatever the local zone (New York here)."""
    since = parse_since(text)
    assert since.seconds_back is None
    assert since.at == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-29", utc_ts(2026, 11, 29, 5)),  # midnight EST (UTC-5)
        ("2026-11-29 14:00", utc_ts(2026, 11, 29, 19)),
        ("2026-11-29T14:00:00", utc_ts(2026, 11, 29, 19)),
        ("20261129", utc_ts(2026, 11, 29, 5)),  # eight digits: a date, not 20 million seconds
        ("2026-07-01 12:00", utc_ts(2026, 7, 1, 16)),  # summer: EDT (UTC-4), not a fixed offset
    ],
)
def test_parse_since_without_offset_is_local_time(text: str, expected: float, new_york: None) -> None:
    """A time without an offset is the user's local time (TZ=America/New_York)."""
    assert os.environ["TZ"] == "America/New_York"
    since = parse_since(text)
    assert since.seconds_back is None
    assert since.at == expected


@pytest.mark.parametrize("text", ["2 hours", "", "xyz", "2026-13-40", "yesterday", "2026-11-29 25:00", "1h 30m"])
def test_parse_since_refusals(text: str) -> None:
    """Neither a span nor an ISO time: refused, naming the text ('2 hours' is not two o'clock)."""
    with pytest.raises(InvalidInput) as info:
        parse_since(text)
    assert repr(text) in str(info.value)


# -- Since.cutoff -----------------------------------------------------------------------------


def test_cutoff_of_a_span_counts_back_from_now() -> None:
    now = 1_796_000_000.0
    assert parse_since("2h").cutoff(now) == now - 7200
    assert Since(seconds_back=90.0).cutoff(now) == now - 90
    assert Since(seconds_back=90.0).cutoff(now + 10) == now - 80


def test_cutoff_of_an_absolute_time_ignores_now() -> None:
    at = utc_ts(2026, 11, 29, 13)
    since = parse_since("2026-11-29T14:00:00+01:00")
    assert since.cutoff(1_796_000_000.0) == at
    assert since.cutoff(0.0) == at


def test_cutoff_of_nothing_is_now() -> None:
    """An empty Since is 'from now' (zero seconds back)."""
    assert Since().cutoff(123.5) == 123.5
