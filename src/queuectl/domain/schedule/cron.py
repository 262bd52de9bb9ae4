"""Cron expressions: validated and compiled once by croniter, then walked without scanning
empty time (which hours, minutes and seconds of which days).

croniter (with dateutil) is imported where it is used, not at the top: it costs 15-30 ms, and a
command whose helpers have no cron schedule should not pay for it.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from queuectl.domain.errors import InvalidSchedule

#: Longest period a cron may have (its default expiry and sizing use it).
MAX_PERIOD_SECONDS = 366 * 86400
_ONE_SECOND = timedelta(seconds=1)

# croniter splits fields on ASCII whitespace only; so do we, to count the same fields.
_CRON_FIELD_RE = re.compile(r"\S+", re.ASCII)
# croniter's hashed (H) and random (R) fields: per-process values would break "every process
# computes the same instants", so they are refused.
_CRON_HASH_RE = re.compile(r"[hr](\(\d+-\d+\))?(/\d+)?", re.IGNORECASE)
_CRON_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# Fixed reference for validation and period estimates: results must not depend on today.
_CRON_REFERENCE = datetime(2026, 1, 5)
CRON_HORIZON_YEARS = 10
_CRON_PERIOD_SAMPLES = 50
# Names ZoneInfo loads that are not IANA zones but machine-local aliases.


class CronRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CronSpec:
    """A cron split into time-of-day sets and a day-only cron, for fast exact iteration."""

    expr: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_expr: str  # "0 0 <dom> <month> <dow>": fires at midnight of each matching day
    absolute: bool  # hour field is a plain "*": follow absolute time across DST


def _field_values(field: list[Any], size: int) -> tuple[int, ...]:
    if "*" in field:
        return tuple(range(size))
    return tuple(sorted({int(v) for v in field}))


@functools.lru_cache(maxsize=4096)
def compile_cron(expr: str) -> CronSpec:
    """Validate and compile once per expression; refusals raise _CronRefused with a reason."""
    from croniter import CroniterBadDateError, croniter

    if not expr:
        raise CronRefused("empty; give 5 fields (or 6, seconds last) or a macro such as @daily")
    if expr.startswith("@"):
        fields_text = _CRON_MACROS.get(expr.lower())
        if fields_text is None:
            raise CronRefused(f"unsupported macro; use one of {', '.join(_CRON_MACROS)}")
    else:
        fields_text = expr
    fields = _CRON_FIELD_RE.findall(fields_text)
    if len(fields) not in (5, 6):
        raise CronRefused(f"has {len(fields)} fields; give 5 (or 6, seconds last)")
    for field in fields:
        if any(_CRON_HASH_RE.fullmatch(part) for part in field.split(",")):
            raise CronRefused("hashed (H) and random (R) fields are not supported")
    try:
        expanded, _nth = croniter.expand(fields_text)
    except Exception as exc:  # croniter reports bad syntax with several exception types
        raise CronRefused(_croniter_reason(exc)) from None
    day_expr = "0 0 " + " ".join(fields[2:5])
    try:
        first = croniter(
            fields_text, _CRON_REFERENCE, ret_type=datetime, max_years_between_matches=CRON_HORIZON_YEARS
        ).get_next()
        croniter.expand(day_expr)
    except CroniterBadDateError:
        raise CronRefused("never fires") from None
    except Exception as exc:
        raise CronRefused(_croniter_reason(exc)) from None
    if first > _CRON_REFERENCE.replace(year=_CRON_REFERENCE.year + CRON_HORIZON_YEARS):
        raise CronRefused("never fires")
    return CronSpec(
        expr=expr,
        seconds=_field_values(expanded[5], 60) if len(expanded) > 5 else (0,),
        minutes=_field_values(expanded[0], 60),
        hours=_field_values(expanded[1], 24),
        day_expr=day_expr,
        absolute=fields[1] == "*",
    )


def _croniter_reason(exc: Exception) -> str:
    """croniter's own message when it is short (it sometimes is a whole traceback)."""
    text = str(exc).strip()
    base = "not a valid cron expression"
    if text and "\n" not in text and len(text) <= 120:
        return f"{base} ({text})"
    return base


def cron_spec(expr: str) -> CronSpec:
    """The compiled cron, refusing a hand-built config's bad expression like parse_schedule would."""
    try:
        return compile_cron(expr)
    except CronRefused as exc:
        raise InvalidSchedule("cron", expr, exc.reason) from None


@functools.lru_cache(maxsize=4096)
def cron_period(expr: str) -> int:
    """Smallest gap between the first ~50 wall-clock runs after a fixed reference."""
    spec = cron_spec(expr)
    best: int | None = None
    previous: datetime | None = None
    start = _CRON_REFERENCE - _ONE_SECOND
    for count, wall in enumerate(cron_walls(spec, start, start + timedelta(days=366 * 60))):
        if previous is not None:
            gap = int((wall - previous).total_seconds())
            best = gap if best is None else min(best, gap)
            if best == 1:
                break
        previous = wall
        if count + 1 >= _CRON_PERIOD_SAMPLES:
            break
    return max(1, best if best is not None else MAX_PERIOD_SECONDS)


def _cron_days(spec: CronSpec, first: date, last: date) -> Iterator[date]:
    """Local dates in [first, last] on which the cron fires, via croniter on a day-only cron."""
    # Time fields never affect which days match (cron's day rules read only dom/month/dow), so
    # croniter on "0 0 dom month dow" yields exactly the matching days, one get_next per day.
    from croniter import croniter

    it = croniter(spec.day_expr, datetime.combine(first, time()) - _ONE_SECOND, ret_type=datetime)
    while True:
        try:
            day = it.get_next().date()
        except (ValueError, OverflowError):  # CroniterBadDateError: no match in croniter's range
            return
        if day > last:
            return
        yield day


def cron_walls(spec: CronSpec, lo: datetime, hi: datetime) -> Iterator[datetime]:
    """Naive wall times the cron matches in [lo, hi], ascending, without scanning empty time."""
    hours, minutes, seconds = spec.hours, spec.minutes, spec.seconds
    lo_day = lo.date()
    for day in _cron_days(spec, lo_day, hi.date()):
        base = datetime.combine(day, time())
        # On the first day, skip straight to lo's hour and minute instead of scanning up to them.
        start_h = bisect_left(hours, lo.hour) if day == lo_day else 0
        for hour in hours[start_h:]:
            hour_base = base + timedelta(hours=hour)
            if hour_base > hi:
                return
            start_m = bisect_left(minutes, lo.minute) if day == lo_day and hour == lo.hour else 0
            for minute in minutes[start_m:]:
                minute_base = hour_base + timedelta(minutes=minute)
                if minute_base > hi:
                    return
                for second in seconds:
                    wall = minute_base + timedelta(seconds=second)
                    if wall < lo:
                        continue
                    if wall > hi:
                        return
                    yield wall
