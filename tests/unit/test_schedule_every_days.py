"""`every_days` on daily schedules: the rhythm of the legacy `every(n).days`, anchored on day
numbers since 1970-01-01 so it does not depend on when a dispatcher started."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from queuectl.domain.errors import InvalidSchedule
from queuectl.domain.schedule import next_occurrence, occurrences, parse_schedule


def parse(data: dict[str, Any], tz: str = "UTC") -> Any:
    return parse_schedule(data, default_timezone=tz)


def test_every_days_runs_on_dates_whose_day_number_n_divides() -> None:
    config = parse({"type": "daily", "time": "10:00", "every_days": 3}, "Europe/Berlin")
    found = occurrences(config, datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC))
    days = [t.astimezone(config_zone()).date() for t in found]
    assert days and all((d - date(1970, 1, 1)).days % 3 == 0 for d in days)
    assert [b - a for a, b in zip(days, days[1:])] == [timedelta(days=3)] * (len(days) - 1)
    # 10:00 Berlin wall time on both sides of the 2026-03-29 change
    assert {t.astimezone(config_zone()).strftime("%H:%M") for t in found} == {"10:00"}
    assert {t.utcoffset() for t in found} == {timedelta(0)}


def config_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Berlin")


def test_every_days_one_is_plain_daily_and_left_out_of_the_canonical_form() -> None:
    plain = parse({"type": "daily", "time": "08:00"})
    one = parse({"type": "daily", "time": "08:00", "every_days": 1})
    assert plain == one and "every_days" not in one.to_dict()
    two = parse({"type": "daily", "time": "08:00", "every_days": 2})
    assert two.to_dict()["every_days"] == 2
    assert parse(two.to_dict()) == two


def test_every_days_sets_the_period_and_default_expiry() -> None:
    config = parse({"type": "daily", "time": "08:00", "every_days": 2})
    assert config.period_seconds() == 2 * 86400
    assert config.expiry == 1800


def test_next_occurrence_with_a_long_rhythm() -> None:
    config = parse({"type": "daily", "time": "00:00", "every_days": 366})
    after = datetime(2026, 1, 1, tzinfo=UTC)
    found = next_occurrence(config, after)
    assert found is not None and (found.date() - date(1970, 1, 1)).days % 366 == 0
    assert timedelta(0) < found - after <= timedelta(days=366)


@pytest.mark.parametrize("value", [0, -1, 367, 2.0, True, "2", None])
def test_bad_every_days_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(InvalidSchedule) as info:
        parse({"type": "daily", "time": "08:00", "every_days": value})
    assert "every_days" in str(info.value) and "\n" not in str(info.value)


def test_every_days_belongs_to_daily_only() -> None:
    with pytest.raises(InvalidSchedule) as info:
        parse({"type": "interval", "interval_seconds": 60, "every_days": 2})
    assert "every_days" in str(info.value)
