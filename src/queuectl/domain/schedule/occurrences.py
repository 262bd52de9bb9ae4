"""When a schedule runs: exact, whole-second UTC instants in a window, and the next one.

Time rules, in short:
- interval: absolute time, aligned to the Unix epoch, so all processes agree on the instants.
- daily, and crons with specific hours: wall-clock rules. A wall time skipped by a DST gap runs at
  the end of the gap; a wall time that happens twice runs once, the first time.
- crons whose hour field is a plain `*`: absolute rules. Skipped wall times do not run; a wall time
  that happens twice runs twice.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from queuectl.domain.schedule.config import ScheduleConfig
from queuectl.domain.schedule.cron import CRON_HORIZON_YEARS, CronSpec, cron_spec, cron_walls
from queuectl.domain.zones import zone

_UTC = UTC
_EPOCH = datetime(1970, 1, 1)  # naive UTC; all internal instants are naive UTC for speed
_ONE_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)
_EPOCH_ORDINAL = _EPOCH.toordinal()

# ---------------------------------------------------------------------------------------------
# Wall time -> UTC


def _offset_at(tz: ZoneInfo, instant: datetime) -> timedelta:
    """UTC offset in effect at a naive-UTC instant."""
    offset = tz.utcoffset(instant.replace(tzinfo=_UTC).astimezone(tz))
    assert offset is not None
    return offset


def _gap_end(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """First instant after a DST gap: the transition, found by bisecting whole seconds."""
    # `before` is in the old offset and `after` in the new one; gaps are rare, so bisecting
    # (about 12 steps for a one-hour gap) is cheap enough.
    old = _offset_at(tz, before)
    low, high = 0, int((after - before).total_seconds())
    while high - low > 1:
        mid = (low + high) // 2
        if _offset_at(tz, before + timedelta(seconds=mid)) == old:
            low = mid
        else:
            high = mid
    return before + timedelta(seconds=high)


def _resolve(tz: ZoneInfo, wall: datetime, absolute: bool) -> tuple[datetime, ...]:
    """The naive-UTC instants a naive wall time runs at, under the wall or absolute DST rule."""
    # zoneinfo (PEP 495): in a gap fold=0 uses the old, smaller offset; in an overlap fold=0 uses
    # the old, larger one. Equal offsets mean the wall time exists exactly once.
    off0 = tz.utcoffset(wall)
    off1 = tz.utcoffset(wall.replace(fold=1))
    assert off0 is not None and off1 is not None
    if off0 == off1:
        return (wall - off0,)
    if off0 > off1:  # overlap: happens twice
        return (wall - off0, wall - off1) if absolute else (wall - off0,)
    if absolute:  # gap: never happens on the clock
        return ()
    return (_gap_end(tz, wall - off1, wall - off0),)


# ---------------------------------------------------------------------------------------------
# Occurrences


def _naive_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment!r}")
    return moment.astimezone(_UTC).replace(tzinfo=None)


def occurrences(config: ScheduleConfig, start: datetime, end: datetime) -> list[datetime]:
    """Every run instant t with start <= t <= end, as sorted, unique, whole-second UTC datetimes.

    Ignores `enabled`: whether to act on the instants is the caller's decision.
    """
    lo = _naive_utc(start, "start")
    hi = _naive_utc(end, "end")
    if hi < lo:
        return []
    if config.type == "interval":
        assert config.interval_seconds is not None
        instants = _interval_instants(config.interval_seconds, lo, hi)
    elif config.type == "daily":
        assert config.time is not None
        instants = _daily_instants(zone(config.timezone), _wall_time(config.time), lo, hi, config.every_days)
    else:
        assert config.cron is not None
        instants = _cron_instants(cron_spec(config.cron), zone(config.timezone), lo, hi)
    return [t.replace(tzinfo=_UTC) for t in instants]


def _interval_instants(period: int, lo: datetime, hi: datetime) -> list[datetime]:
    """Multiples of the period since the epoch: every process agrees without coordination."""
    step = timedelta(seconds=period)
    first = -((_EPOCH - lo) // step)  # ceil((lo - epoch) / step), exact in integer microseconds
    last = (hi - _EPOCH) // step
    return [_EPOCH + k * step for k in range(first, last + 1)]


@functools.lru_cache(maxsize=4096)
def _wall_time(text: str) -> time:
    return time.fromisoformat(text)


def _daily_instants(tz: ZoneInfo, at: time, lo: datetime, hi: datetime, every_days: int = 1) -> list[datetime]:
    """One run per local date (with every_days n: per local date whose day number since
    1970-01-01 is a multiple of n); only the dates around the window are looked at."""
    first = lo.replace(tzinfo=_UTC).astimezone(tz).date() - _ONE_DAY
    last = hi.replace(tzinfo=_UTC).astimezone(tz).date() + _ONE_DAY
    found: set[datetime] = set()
    day = first
    while day <= last:
        if every_days != 1 and (day.toordinal() - _EPOCH_ORDINAL) % every_days:
            day += _ONE_DAY
            continue
        for instant in _resolve(tz, datetime.combine(day, at), False):
            if lo <= instant <= hi:
                found.add(instant)
        day += _ONE_DAY
    return sorted(found)


def _cron_instants(spec: CronSpec, tz: ZoneInfo, lo: datetime, hi: datetime) -> list[datetime]:
    """Cron runs in [lo, hi]: iterate wall times covering the window, map to UTC, filter."""
    # Wall times that can land in [lo, hi] lie in [lo + smallest offset, hi + largest offset],
    # where the offsets are those in effect from just before lo to hi (sampled every 3 hours;
    # offsets never change twice within 3 hours).
    offsets = {_offset_at(tz, lo - _ONE_SECOND), _offset_at(tz, lo), _offset_at(tz, hi)}
    probe = lo + timedelta(hours=3)
    while probe < hi:
        offsets.add(_offset_at(tz, probe))
        probe += timedelta(hours=3)
    wall_lo = (lo + min(offsets)).replace(microsecond=0)
    wall_hi = hi + max(offsets)
    found: set[datetime] = set()
    for wall in cron_walls(spec, wall_lo, wall_hi):
        for instant in _resolve(tz, wall, spec.absolute):
            if lo <= instant <= hi:
                found.add(instant)
    return sorted(found)


def next_occurrence(config: ScheduleConfig, after: datetime) -> datetime | None:
    """The first run strictly after `after`, or None if there is none within the search horizon."""
    lo = _naive_utc(after, "after").replace(tzinfo=_UTC)
    if config.type == "interval":
        found = occurrences(config, lo, lo + timedelta(seconds=config.interval_seconds or 1))
        later = [t for t in found if t > lo]
        return later[0] if later else None
    period = config.period_seconds()
    # Daily runs at most 366 days apart (every_days); sparse crons (say Feb 29) need years.
    horizon = timedelta(days=400) if config.type == "daily" else timedelta(days=366 * (CRON_HORIZON_YEARS + 1))
    window = timedelta(seconds=max(60, min(2 * period, 86400)))
    begin = lo
    while begin - lo < horizon:
        stop = min(begin + window, lo + horizon)
        later = [t for t in occurrences(config, begin, stop) if t > lo]
        if later:
            return later[0]
        begin = stop
        window *= 4
    return None
