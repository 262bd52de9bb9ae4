"""The legacy bridge against the real `schedule` library: for each legacy definition, the instants
the library itself runs the job at over 8 days (driven with a controlled clock) equal the
instants queuectl plans for the config the bridge translated it into.

Each row is a helper whose schedule() is the row's text, read through the bridge's own reading
path (legacy_bridge.read_jobs + job_facts + translate). The library is then driven the way its
loop would be: the clock jumps to the job's next_run, run_pending() runs it (the helper's run()
records the instant), and so on past 8 days. Compared with occurrences(config, (t0, t0 + 8 d]):
the library never runs a job at its start instant either.

Where the legacy phase depends on when the process started (intervals, weeks, every(n).days,
weekdays without .at), the row starts at the instant queuectl's rule anchors to (an epoch-aligned
instant, a day number n divides, local midnight); docs/migration.md says why. Rows with a zone
and no `local` run with the process in UTC.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
import schedule

from queuectl import BaseHelper
from queuectl.domain.schedule import occurrences, parse_schedule
from queuectl.domain.schedule.legacy import Translation, translate
from queuectl.runtime.legacy_bridge import job_facts, read_jobs

UTC = dt.UTC
EIGHT_DAYS = dt.timedelta(days=8)


def epoch_aligned(moment: dt.datetime, seconds: int) -> dt.datetime:
    """The last instant at or before `moment` that is a multiple of `seconds` since the epoch."""
    return dt.datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, UTC)


def day_aligned(day: dt.date, n: int, at: dt.time, zone: str) -> dt.datetime:
    """`at` (local to `zone`) on the first date from `day` whose day number since 1970 n divides."""
    while (day - dt.date(1970, 1, 1)).days % n:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, at, ZoneInfo(zone)).astimezone(UTC)


@dataclass(frozen=True)
class Row:
    legacy: str  # what the helper's schedule() calls, before .do(self.run)
    start: dt.datetime  # t0 (aware)
    local: str = "UTC"  # the process's TZ (naive local time of the legacy library)
    why: str = ""  # why this start, where the legacy phase depends on the process start


ROWS = [
    Row('every().day.at("08:40:00")', dt.datetime(2026, 5, 4, 12, tzinfo=UTC)),
    Row('every().day.at("08:00", "Europe/Berlin")', dt.datetime(2026, 3, 25, 12, tzinfo=UTC)),  # DST 03-29
    Row('every().day.at("08:00", "Europe/Berlin")', dt.datetime(2026, 10, 21, 12, tzinfo=UTC)),  # DST 10-25
    Row('every().day.at("02:30")', dt.datetime(2026, 3, 25, 12, tzinfo=UTC), "Europe/Berlin"),  # skipped: gap end
    Row('every().day.at("02:30")', dt.datetime(2026, 10, 21, 12, tzinfo=UTC), "Europe/Berlin"),  # twice: first
    Row('every().day.at("02:30", "Europe/Berlin")', dt.datetime(2026, 10, 21, 12, tzinfo=UTC)),  # twice: first
    Row('every().day.at("01:30", "America/New_York")', dt.datetime(2026, 10, 28, 12, tzinfo=UTC)),  # DST 11-01
    Row('every().day.at("07:15:30", "America/New_York")', dt.datetime(2026, 3, 4, 12, tzinfo=UTC)),  # DST 03-08
    Row(
        'every(2).days.at("10:00", "Europe/Berlin")',
        day_aligned(dt.date(2026, 3, 24), 2, dt.time(13), "Europe/Berlin"),  # across 03-29
        why="legacy: n days after the start date; queuectl: day numbers n divides",
    ),
    Row(
        'every(3).days.at("06:00")',
        day_aligned(dt.date(2026, 5, 1), 3, dt.time(12), "UTC"),
        why="legacy: n days after the start date; queuectl: day numbers n divides",
    ),
    Row(
        "every(2).days",
        day_aligned(dt.date(2026, 5, 1), 2, dt.time(0), "UTC"),
        why="no .at: the legacy time of day is the start's; queuectl uses 00:00",
    ),
    Row("every().day", dt.datetime(2026, 5, 4, tzinfo=UTC), why="no .at: the start's time of day; queuectl 00:00"),
    Row('every().monday.at("09:00", "Europe/Berlin")', dt.datetime(2026, 3, 22, 12, tzinfo=UTC)),  # CET, CEST
    Row('every().sunday.at("01:30", "America/New_York")', dt.datetime(2026, 10, 28, 12, tzinfo=UTC)),  # 11-01 twice
    Row('every().wednesday.at("18:00")', dt.datetime(2026, 3, 3, 23, 30, tzinfo=UTC), "America/New_York"),  # EST, EDT
    Row("every().friday", dt.datetime(2026, 5, 7, tzinfo=UTC), why="no .at: the start's time of day; queuectl 00:00"),
    Row(
        "every(90).seconds",
        epoch_aligned(dt.datetime(2026, 5, 4, 12, 0, 7, tzinfo=UTC), 90),
        why="legacy counts from the start; queuectl from the epoch",
    ),
    Row(
        "every(15).minutes",
        epoch_aligned(dt.datetime(2026, 5, 4, 12, 7, tzinfo=UTC), 900),
        "Asia/Tokyo",
        why="legacy counts from the start; queuectl from the epoch",
    ),
    Row(
        "every(6).hours",
        epoch_aligned(dt.datetime(2026, 5, 4, 13, tzinfo=UTC), 21600),
        why="legacy counts from the start; queuectl from the epoch",
    ),
    Row(
        "every().hour",
        epoch_aligned(dt.datetime(2026, 3, 25, 12, 30, tzinfo=UTC), 3600),
        "Europe/Berlin",  # across 03-29: naive 02:00 does not exist, the wall clock reaches it at 03:00
        why="legacy counts from the start; queuectl from the epoch",
    ),
    Row("every().week", epoch_aligned(dt.datetime(2026, 5, 4, tzinfo=UTC), 604800), why="weeks count from the epoch"),
    Row('every().hour.at(":20")', dt.datetime(2026, 5, 4, 12, 5, tzinfo=UTC)),
    Row('every().hour.at(":20", "Asia/Kolkata")', dt.datetime(2026, 5, 4, 12, 5, tzinfo=UTC)),  # +05:30: :50 UTC
    Row('every().hour.at("05:30")', dt.datetime(2026, 5, 4, 12, 5, tzinfo=UTC)),
    Row('every().minute.at(":17")', dt.datetime(2026, 5, 4, 12, 5, 3, tzinfo=UTC)),
]


class Clock:
    """The instant the legacy library sees as now (aware UTC)."""

    now: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=UTC)


class _ControlledDatetime(dt.datetime):
    """datetime.datetime for the library: now() and now(tz) read Clock (local time via TZ)."""

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
        return dt.datetime.fromtimestamp(Clock.now.timestamp(), tz)


@pytest.fixture()
def legacy_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Clock]]:
    fake = types.SimpleNamespace(datetime=_ControlledDatetime, timedelta=dt.timedelta, time=dt.time, date=dt.date)
    monkeypatch.setattr(schedule, "datetime", fake)
    yield Clock


@pytest.fixture()
def local_zone() -> Iterator[object]:
    """Set the process's TZ for a row (the legacy library's naive local time); restored after."""
    saved = os.environ.get("TZ")

    def set_zone(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield set_zone
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def due_instant(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first instant at which the local wall clock reads `naive` or later: when run_pending()
    in a loop would first find the job due (a skipped wall time: the end of the gap; a
    repeated one: its first occurrence)."""
    first = naive.replace(tzinfo=zone).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(first, second), max(first, second)

    def wall(moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(zone).replace(tzinfo=None)

    if wall(low) >= naive:
        return low
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wall(dt.datetime.fromtimestamp(mid, UTC)) >= naive:
            hi = mid
        else:
            lo = mid
    return dt.datetime.fromtimestamp(hi, UTC)


def legacy_helper(legacy: str, runs: list[dt.datetime]) -> BaseHelper:
    """A helper whose schedule() is the row's legacy call and whose run() records the clock."""
    namespace: dict[str, object] = {"schedule": schedule}
    exec(f"def schedule_(self):\n    schedule.{legacy}.do(self.run)\n", namespace)

    def run(self: BaseHelper) -> None:
        runs.append(Clock.now)

    cls = type("LegacyRow", (BaseHelper,), {"schedule": namespace["schedule_"], "run": run})
    return cls()


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.legacy} from {r.start:%Y-%m-%d %H:%M}Z in {r.local}" for r in ROWS])
def test_bridge_plans_the_instants_the_schedule_library_runs_at(row: Row, legacy_clock, local_zone) -> None:
    local_zone(row.local)
    legacy_clock.now = row.start
    runs: list[dt.datetime] = []
    helper = legacy_helper(row.legacy, runs)
    (job,) = read_jobs(helper)  # the bridge's reading path, under the controlled clock
    translation = translate(job_facts(job, helper))
    assert isinstance(translation, Translation), translation
    config = parse_schedule(translation.config, default_timezone=row.local)

    scheduler = schedule.Scheduler()
    job.scheduler = scheduler
    scheduler.jobs.append(job)
    end = row.start + EIGHT_DAYS
    legacy: list[dt.datetime] = []
    while True:
        assert job.next_run is not None
        due = due_instant(job.next_run, ZoneInfo(row.local))
        if due > end:
            break
        legacy_clock.now = due
        scheduler.run_pending()
        legacy.append(due)
    assert runs == legacy  # every instant is one the library really ran the helper's run() at
    assert legacy, "the row must run at least once in 8 days"

    planned = occurrences(config, row.start + dt.timedelta(seconds=1), end)
    assert planned == legacy


def test_the_table_covers_what_the_issue_asks_for() -> None:
    texts = " ".join(r.legacy for r in ROWS)
    for construct in ("day.at", "days.at", "monday", "sunday", "seconds", "minutes", "hours", "hour.at", "minute.at"):
        assert construct in texts
    assert len(ROWS) >= 15
    dst_rows = [r for r in ROWS if "Europe/Berlin" in r.legacy + r.local or "America/New_York" in r.legacy + r.local]
    assert len(dst_rows) >= 8
