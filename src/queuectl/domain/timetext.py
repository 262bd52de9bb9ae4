"""Times and spans as people type them (`history --since`), parsed once for every front."""

from __future__ import annotations

import re
from dataclasses import dataclass

from queuectl.domain.errors import InvalidInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SPAN_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> float:
    """'90s', '15m', '2h', '1d', '1h30m', or plain seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _SPAN_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidInput(f"invalid duration {text!r}: use e.g. 90s, 15m, 2h, 1d or 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class Since:
    """A lower bound on a time: `seconds_back` from now, or an absolute Unix time `at`."""

    seconds_back: float | None = None
    at: float | None = None

    def cutoff(self, now: float) -> float:
        return self.at if self.at is not None else now - (self.seconds_back or 0.0)


def parse_since(text: str) -> Since:
    """A span back from now ('2h', '1h30m', '90') or an ISO 8601 date and time ('2026-11-29',
    '2026-11-29 14:00', '2026-11-29T14:00:00+01:00', '20261129T1400Z'; local time unless it
    names an offset). dateutil's strict ISO parser reads the times: its lenient one would take
    '2 hours' for two o'clock."""
    stripped = text.strip()
    if re.fullmatch(r"[\d.smhdw]+", stripped.lower()) and not re.fullmatch(r"\d{8}", stripped):
        try:
            return Since(seconds_back=parse_duration(stripped))
        except InvalidInput:
            pass
    from dateutil.parser import isoparse

    try:
        moment = isoparse(stripped)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"invalid --since {text!r}: give a span back from now (90s, 30m, 2h, 1d, 1h30m) "
            "or an ISO 8601 date and time (2026-11-29 14:00)"
        ) from None
    try:
        if moment.tzinfo is None:
            moment = moment.astimezone()  # a time without an offset is the user's local time
        return Since(at=moment.timestamp())
    except (ValueError, OverflowError, OSError):  # 0001-01-01 or 9999-12-31 in local time
        raise InvalidInput(f"invalid --since {text!r}: the date is out of range") from None
