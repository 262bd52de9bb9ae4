"""A helper's schedule as one validated value (ScheduleConfig), and the rules that build it.

Strict on purpose: a typo or a key of another type would otherwise silently change when a job
runs, so every unknown or misplaced key is refused with its name and value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from queuectl.domain.errors import InvalidSchedule
from queuectl.domain.schedule.cron import MAX_PERIOD_SECONDS, CronRefused, compile_cron, cron_period
from queuectl.domain.zones import is_zone_name

SCHEDULE_TYPES = ("daily", "interval", "cron")

_ALLOWED_KEYS = (
    "type",
    "time",
    "every_days",
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
    "every_days": "daily",
    "interval_minutes": "interval",
    "interval_seconds": "interval",
    "cron": "cron",
}

DEFAULT_PRIORITY = 3
DEFAULT_EXPIRY_CAP = 1800
DEFAULT_RETRIES = 0
DEFAULT_RETRY_BACKOFF = 10.0
DEFAULT_RETRY_ON_ABANDON = 0

MAX_INTERVAL_SECONDS = MAX_PERIOD_SECONDS
MAX_EXPIRY_SECONDS = 30 * 86400
MAX_TIMEOUT_SECONDS = 7 * 86400
MAX_RETRIES = 100
MAX_RETRY_BACKOFF = 86400.0
MAX_EVERY_DAYS = MAX_PERIOD_SECONDS // 86400


# ASCII digits only: `\d` would also accept other scripts' digits.
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?")


@dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    """A validated schedule; build it with parse_schedule so every field is checked and resolved."""

    type: str
    time: str | None = None
    # daily only: run on the local dates whose day number since 1970-01-01 is a multiple of it,
    # so the rhythm does not depend on when (or where) a dispatcher started
    every_days: int = 1
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
            if self.every_days != 1:
                out["every_days"] = self.every_days
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
        return period_seconds(self.type, self.interval_seconds, self.cron, self.every_days)


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
    every_days = 1
    interval_seconds: int | None = None
    cron_text: str | None = None
    if stype == "daily":
        time_text = _parse_time(data)
        every_days = _parse_int("every_days", data.get("every_days", 1), 1, MAX_EVERY_DAYS)
    elif stype == "interval":
        interval_seconds = _parse_interval(data)
    else:
        cron_text = _parse_cron(data)
    period = period_seconds(stype, interval_seconds, cron_text, every_days)

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
        if not is_zone_name(zone):
            raise InvalidSchedule("timezone", zone, "unknown time zone (use an IANA name such as Europe/Berlin)")
    else:
        zone = default_timezone
        if not is_zone_name(zone):
            raise InvalidSchedule("timezone", zone, "unknown time zone (the default)")

    timeout: float | None = None
    if data.get("timeout") is not None:
        timeout = _parse_float("timeout", data["timeout"], low=0.0, high=MAX_TIMEOUT_SECONDS, low_open=True)

    return ScheduleConfig(
        type=stype,
        time=time_text,
        every_days=every_days,
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
        compile_cron(expr)
    except CronRefused as exc:
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
    if not (_is_number(value) and value <= high and (value > low if low_open else value >= low)):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise InvalidSchedule(key, value, f"must be a finite number of seconds {bound} and <= {high:g}")
    assert _is_number(value)
    return float(value)


def period_seconds(stype: str, interval_seconds: int | None, cron: str | None, every_days: int = 1) -> int:
    if stype == "daily":
        return 86400 * every_days
    if stype == "interval":
        assert interval_seconds is not None
        return interval_seconds
    assert cron is not None
    return cron_period(cron)
