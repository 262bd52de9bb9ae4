"""Schedule maths and validation: what a helper's schedule means, as exact UTC instants.

Pure on purpose: nothing here reads the clock or touches Redis, so every process (and every test)
computes the same instants from the same config, and DST rules are tested in simulated time.

Time rules, in short:
- interval: absolute time, aligned to the Unix epoch, so all processes agree on the instants.
- daily, and crons with specific hours: wall-clock rules. A wall time skipped by a DST gap runs at
  the end of the gap; a wall time that happens twice runs once, the first time.
- crons whose hour field is a plain `*`: absolute rules. Skipped wall times do not run; a wall time
  that happens twice runs twice.
"""
from __future__ import annotations

import functools
import math
import os
import re
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

from queuectl.domain.errors import InvalidSchedule

SCHEDULE_TYPES = ("daily", "interval", "cron")

_ALLOWED_KEYS = (
    "type",
    "time",
    "interval_minutes",
    "interval_seconds",
    "cron",
    "priority",
    "expiry",
    "enabled",
    "timezone",
    "timeout",
    "retries",
    "retry_backoff",
    "retry_on_abandon",
)
# Keys that belong to one type only; giving them to another type is a mistake, not a no-op.
_TYPE_KEYS = {
    "time": "daily",
    "interval_minutes": "interval",
    "interval_seconds": "interval",
    "cron": "cron",
}

DEFAULT_PRIORITY = 3
DEFAULT_EXPIRY_CAP = 1800
DEFAULT_RETRIES = 0
DEFAULT_RETRY_BACKOFF = 10.0
DEFAULT_RETRY_ON_ABANDON = 0

MAX_INTERVAL_SECONDS = 366 * 86400
MAX_EXPIRY_SECONDS = 30 * 86400
MAX_TIMEOUT_SECONDS = 7 * 86400
MAX_RETRIES = 100
MAX_RETRY_BACKOFF = 86400.0

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1)  # naive UTC; all internal instants are naive UTC for speed
_ONE_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)

# ASCII digits only: `\d` would also accept other scripts' digits.
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?")
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
_CRON_HORIZON_YEARS = 10
_CRON_PERIOD_SAMPLES = 50
# Names ZoneInfo loads that are not IANA zones but machine-local aliases.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    """A validated schedule; build it with parse_schedule so every field is checked and resolved."""

    type: str
    time: str | None = None
    interval_seconds: int | None = None
    cron: str | None = None
    priority: int = DEFAULT_PRIORITY
    expiry: int
    expiry_is_default: bool
    enabled: bool = True
    timezone: str
    timeout: float | None = None
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    retry_on_abandon: int = DEFAULT_RETRY_ON_ABANDON

    def to_dict(self) -> dict[str, Any]:
        """Canonical, JSON-able form, stable key order; parse_schedule(to_dict()) gives self back.

        A defaulted expiry is left out so a stored config keeps following the default.
        """
        out: dict[str, Any] = {"type": self.type}
        if self.type == "daily":
            out["time"] = self.time
        elif self.type == "interval":
            out["interval_seconds"] = self.interval_seconds
        else:
            out["cron"] = self.cron
        out["priority"] = self.priority
        if not self.expiry_is_default:
            out["expiry"] = self.expiry
        out["enabled"] = self.enabled
        out["timezone"] = self.timezone
        if self.timeout is not None:
            out["timeout"] = self.timeout
        if self.retries != DEFAULT_RETRIES:
            out["retries"] = self.retries
        if self.retry_backoff != DEFAULT_RETRY_BACKOFF:
            out["retry_backoff"] = self.retry_backoff
        if self.retry_on_abandon != DEFAULT_RETRY_ON_ABANDON:
            out["retry_on_abandon"] = self.retry_on_abandon
        return out

    def period_seconds(self) -> int:
        """The (smallest) gap between runs; the default expiry and sizing decisions use it."""
        return _period_seconds(self.type, self.interval_seconds, self.cron)


# ---------------------------------------------------------------------------------------------
# Validation


def parse_schedule(data: Mapping[str, Any], *, default_timezone: str) -> ScheduleConfig:
    """Validate a schedule dict (helper code or CLI JSON) into a ScheduleConfig, or raise.

    Strict on purpose: a typo or a key of another type would otherwise silently change when a
    job runs, so every unknown or misplaced key is refused with its name and value.
    """
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise InvalidSchedule("schedule", data, "must be an object")
    for key, value in data.items():
        if key not in _ALLOWED_KEYS:
            raise InvalidSchedule(key, value, f"unknown key (allowed: {', '.join(_ALLOWED_KEYS)})")

    if "type" not in data:
        raise InvalidSchedule("type", None, "required; use daily, interval or cron")
    stype = data["type"]
    if not isinstance(stype, str) or stype not in SCHEDULE_TYPES:
        raise InvalidSchedule("type", stype, "unknown type; use daily, interval or cron")
    for key, owner in _TYPE_KEYS.items():
        if key in data and owner != stype:
            raise InvalidSchedule(key, data[key], f"not used by type {stype!r}")

    time_text: str | None = None
    interval_seconds: int | None = None
    cron_text: str | None = None
    if stype == "daily":
        time_text = _parse_time(data)
    elif stype == "interval":
        interval_seconds = _parse_interval(data)
    else:
        cron_text = _parse_cron(data)
    period = _period_seconds(stype, interval_seconds, cron_text)

    if "expiry" in data:
        expiry = _parse_expiry(data["expiry"])
        expiry_is_default = False
    else:
        expiry = min(DEFAULT_EXPIRY_CAP, period)
        expiry_is_default = True

    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidSchedule("enabled", enabled, "must be true or false")

    if "timezone" in data:
        zone = data["timezone"]
        if not _is_zone_name(zone):
            raise InvalidSchedule("timezone", zone, "unknown time zone (use an IANA name such as Europe/Berlin)")
    else:
        zone = default_timezone
        if not _is_zone_name(zone):
            raise InvalidSchedule("timezone", zone, "unknown time zone (the default)")

    timeout: float | None = None
    if data.get("timeout") is not None:
        timeout = _parse_float("timeout", data["timeout"], low=0.0, high=MAX_TIMEOUT_SECONDS, low_open=True)

    return ScheduleConfig(
        type=stype,
        time=time_text,
        interval_seconds=interval_seconds,
        cron=cron_text,
        priority=_parse_int("priority", data.get("priority", DEFAULT_PRIORITY), 1, 5),
        expiry=expiry,
        expiry_is_default=expiry_is_default,
        enabled=enabled,
        timezone=zone,
        timeout=timeout,
        retries=_parse_int("retries", data.get("retries", DEFAULT_RETRIES), 0, MAX_RETRIES),
        retry_backoff=_parse_float(
            "retry_backoff", data.get("retry_backoff", DEFAULT_RETRY_BACKOFF), low=0.0, high=MAX_RETRY_BACKOFF
        ),
        retry_on_abandon=_parse_int(
            "retry_on_abandon", data.get("retry_on_abandon", DEFAULT_RETRY_ON_ABANDON), 0, MAX_RETRIES
        ),
    )


def _is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float but not bool: True/False as a number is always a mistake here."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True  # math.isfinite would overflow on huge ints; ranges are checked by callers
    return isinstance(value, float) and math.isfinite(value)


def _parse_time(data: Mapping[str, Any]) -> str:
    """A daily wall time, refused unless it is a real clock time, normalised to HH:MM:SS."""
    if "time" not in data:
        raise InvalidSchedule("time", None, "required for type 'daily'")
    value = data["time"]
    if not isinstance(value, str) or _TIME_RE.fullmatch(value) is None:
        raise InvalidSchedule("time", value, "must be HH:MM or HH:MM:SS, 00:00 to 23:59:59")
    return value if len(value) == 8 else value + ":00"


def _parse_interval(data: Mapping[str, Any]) -> int:
    """The interval in whole seconds, from exactly one of interval_minutes / interval_seconds."""
    has_minutes = "interval_minutes" in data
    has_seconds = "interval_seconds" in data
    if has_minutes and has_seconds:
        raise InvalidSchedule(
            "interval_seconds", data["interval_seconds"], "give interval_minutes or interval_seconds, not both"
        )
    if not has_minutes and not has_seconds:
        raise InvalidSchedule("interval_minutes", None, "required for type 'interval' (or interval_seconds)")
    if has_minutes:
        key, value = "interval_minutes", data["interval_minutes"]
        if not _is_number(value) or value <= 0:
            raise InvalidSchedule(key, value, "must be a positive number of minutes")
        if value > MAX_INTERVAL_SECONDS / 60:
            raise InvalidSchedule(key, value, f"too long (at most 366 days = {MAX_INTERVAL_SECONDS} s)")
        seconds = value * 60
    else:
        key, value = "interval_seconds", data["interval_seconds"]
        if not _is_number(value) or value <= 0:
            raise InvalidSchedule(key, value, "must be a positive whole number of seconds")
        if value > MAX_INTERVAL_SECONDS:
            raise InvalidSchedule(key, value, f"too long (at most 366 days = {MAX_INTERVAL_SECONDS} s)")
        seconds = value
    whole = round(seconds)
    # A tolerance, because 0.7 minutes * 60 is 42.00000000000001 in binary floating point.
    if abs(seconds - whole) > 1e-6 or whole < 1:
        raise InvalidSchedule(key, value, f"must be a whole number of seconds (got {seconds:g} s)")
    return int(whole)


def _parse_cron(data: Mapping[str, Any]) -> str:
    """A cron expression croniter accepts and that fires within ten years, stripped."""
    if "cron" not in data:
        raise InvalidSchedule("cron", None, "required for type 'cron'")
    value = data["cron"]
    if not isinstance(value, str):
        raise InvalidSchedule("cron", value, "must be a string")
    expr = value.strip()
    try:
        _compile_cron(expr)
    except _CronRefused as exc:
        raise InvalidSchedule("cron", value, exc.reason) from None
    return expr


def _parse_expiry(value: object) -> int:
    """Seconds a due run may wait before it is dropped: a whole, finite number up to 30 days."""
    if not _is_number(value) or value < 0 or value != int(value):
        raise InvalidSchedule("expiry", value, "must be a whole number of seconds >= 0")
    if value > MAX_EXPIRY_SECONDS:
        raise InvalidSchedule("expiry", value, f"too long (at most 30 days = {MAX_EXPIRY_SECONDS} s)")
    return int(value)


def _parse_int(key: str, value: object, low: int, high: int) -> int:
    """An integer in [low, high]; floats are refused so 2.5 never silently becomes 2."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidSchedule(key, value, f"must be an integer from {low} to {high}")
    return value


def _parse_float(key: str, value: object, *, low: float, high: float, low_open: bool = False) -> float:
    """A finite number of seconds in its range, stored as float so round trips compare equal."""
    ok = _is_number(value) and value <= high
    ok = ok and (value > low if low_open else value >= low)
    if not ok:
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise InvalidSchedule(key, value, f"must be a finite number of seconds {bound} and <= {high:g}")
    assert _is_number(value)
    return float(value)


# ---------------------------------------------------------------------------------------------
# Time zones


@functools.lru_cache(maxsize=1024)
def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError, IsADirectoryError, other OSError
        return False
    return True


def _is_zone_name(name: object) -> bool:
    """True for an IANA name ZoneInfo loads; paths and machine-local aliases are refused."""
    if not isinstance(name, str) or not name or name != name.strip():
        return False
    if name.startswith("/") or "\\" in name or "\0" in name or ".." in name.split("/"):
        return False
    if name in _NOT_ZONES:
        return False
    return _zone_ok(name)


def _zone(name: str) -> ZoneInfo:
    """ZoneInfo caches instances itself; this is only a named seam."""
    return ZoneInfo(name)


def system_timezone() -> str:
    """The machine's IANA zone name, so a schedule without a zone follows the host's wall clock."""
    return _system_timezone(os.environ, "/etc/localtime", "/etc/timezone")


def _system_timezone(environ: Mapping[str, str], localtime: str, timezone_file: str) -> str:
    """system_timezone with its inputs injectable, for tests."""
    tz_env = environ.get("TZ")
    if tz_env:
        name = tz_env[1:] if tz_env.startswith(":") else tz_env
        if _is_zone_name(name):
            return name
    for target in _link_targets(localtime):
        marker = "/zoneinfo/"
        at = target.rfind(marker)
        if at < 0:
            continue
        name = target[at + len(marker):]
        for prefix in ("posix/", "right/"):
            if name.startswith(prefix):
                name = name[len(prefix):]
        if _is_zone_name(name):
            return name
    try:
        with open(timezone_file, encoding="utf-8") as handle:
            name = handle.readline().strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if _is_zone_name(name):
        return name
    return "UTC"


def _link_targets(path: str) -> list[str]:
    """The symlink's own target first (it names the zone the admin chose), then the final one."""
    out: list[str] = []
    try:
        target = os.readlink(path)
    except OSError:
        return out
    if not os.path.isabs(target):
        target = os.path.join(os.path.dirname(path), target)
    out.append(os.path.normpath(target))
    out.append(os.path.realpath(path))
    return out


def default_timezone() -> str:
    """QUEUECTL_TIMEZONE when set (a bad value is an error, not a silent fallback), else the host's."""
    value = os.environ.get("QUEUECTL_TIMEZONE")
    if value:
        if not _is_zone_name(value):
            raise InvalidSchedule("timezone", value, "unknown time zone (from QUEUECTL_TIMEZONE)")
        return value
    return system_timezone()


# ---------------------------------------------------------------------------------------------
# Cron compilation


class _CronRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _CronSpec:
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
def _compile_cron(expr: str) -> _CronSpec:
    """Validate and compile once per expression; refusals raise _CronRefused with a reason."""
    # croniter (with dateutil) is imported here, not at the top: it costs 15-30 ms, and a command
    # whose helpers have no cron schedule should not pay for it
    from croniter import CroniterBadDateError, croniter

    if not expr:
        raise _CronRefused("empty; give 5 fields (or 6, seconds last) or a macro such as @daily")
    if expr.startswith("@"):
        fields_text = _CRON_MACROS.get(expr.lower())
        if fields_text is None:
            raise _CronRefused(f"unsupported macro; use one of {', '.join(_CRON_MACROS)}")
    else:
        fields_text = expr
    fields = _CRON_FIELD_RE.findall(fields_text)
    if len(fields) not in (5, 6):
        raise _CronRefused(f"has {len(fields)} fields; give 5 (or 6, seconds last)")
    for field in fields:
        if any(_CRON_HASH_RE.fullmatch(part) for part in field.split(",")):
            raise _CronRefused("hashed (H) and random (R) fields are not supported")
    try:
        expanded, _nth = croniter.expand(fields_text)
    except Exception as exc:  # croniter reports bad syntax with several exception types
        raise _CronRefused(_croniter_reason(exc)) from None
    day_expr = "0 0 " + " ".join(fields[2:5])
    try:
        first = croniter(
            fields_text, _CRON_REFERENCE, ret_type=datetime, max_years_between_matches=_CRON_HORIZON_YEARS
        ).get_next()
        croniter.expand(day_expr)
    except CroniterBadDateError:
        raise _CronRefused("never fires") from None
    except Exception as exc:
        raise _CronRefused(_croniter_reason(exc)) from None
    if first > _CRON_REFERENCE.replace(year=_CRON_REFERENCE.year + _CRON_HORIZON_YEARS):
        raise _CronRefused("never fires")
    return _CronSpec(
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


def _cron_spec(expr: str) -> _CronSpec:
    """The compiled cron, refusing a hand-built config's bad expression like parse_schedule would."""
    try:
        return _compile_cron(expr)
    except _CronRefused as exc:
        raise InvalidSchedule("cron", expr, exc.reason) from None


@functools.lru_cache(maxsize=4096)
def _cron_period(expr: str) -> int:
    """Smallest gap between the first ~50 wall-clock runs after a fixed reference."""
    spec = _cron_spec(expr)
    best: int | None = None
    previous: datetime | None = None
    start = _CRON_REFERENCE - _ONE_SECOND
    for count, wall in enumerate(_cron_walls(spec, start, start + timedelta(days=366 * 60))):
        if previous is not None:
            gap = int((wall - previous).total_seconds())
            best = gap if best is None else min(best, gap)
            if best == 1:
                break
        previous = wall
        if count + 1 >= _CRON_PERIOD_SAMPLES:
            break
    return max(1, best if best is not None else MAX_INTERVAL_SECONDS)


def _period_seconds(stype: str, interval_seconds: int | None, cron: str | None) -> int:
    if stype == "daily":
        return 86400
    if stype == "interval":
        assert interval_seconds is not None
        return interval_seconds
    assert cron is not None
    return _cron_period(cron)


def _cron_days(spec: _CronSpec, first: date, last: date) -> Iterator[date]:
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


def _cron_walls(spec: _CronSpec, lo: datetime, hi: datetime) -> Iterator[datetime]:
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
        instants = _daily_instants(_zone(config.timezone), _wall_time(config.time), lo, hi)
    else:
        assert config.cron is not None
        instants = _cron_instants(_cron_spec(config.cron), _zone(config.timezone), lo, hi)
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


def _daily_instants(tz: ZoneInfo, at: time, lo: datetime, hi: datetime) -> list[datetime]:
    """One run per local date; only the dates around the window are looked at."""
    first = lo.replace(tzinfo=_UTC).astimezone(tz).date() - _ONE_DAY
    last = hi.replace(tzinfo=_UTC).astimezone(tz).date() + _ONE_DAY
    found: set[datetime] = set()
    day = first
    while day <= last:
        for instant in _resolve(tz, datetime.combine(day, at), False):
            if lo <= instant <= hi:
                found.add(instant)
        day += _ONE_DAY
    return sorted(found)


def _cron_instants(spec: _CronSpec, tz: ZoneInfo, lo: datetime, hi: datetime) -> list[datetime]:
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
    for wall in _cron_walls(spec, wall_lo, wall_hi):
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
    # Daily runs at most 2 days apart even around DST; sparse crons (say Feb 29) need years.
    horizon = timedelta(days=400) if config.type == "daily" else timedelta(days=366 * (_CRON_HORIZON_YEARS + 1))
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
