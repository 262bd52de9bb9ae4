"""Constants the API tests share (tests/api is on sys.path while they run; conftest modules are
never imported by name)."""

from __future__ import annotations

TOKEN = "test-token-5f3a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

#: checkIn: always something queued, whatever the time of day (its next run moves every 10 min:
#: a test comparing two reads takes one more read, see `same_as_one_of`).
CHECKIN = {"type": "interval", "interval_minutes": 10, "priority": 1, "expiry": 3600}
#: nightly: disabled, nothing queued.
NIGHTLY = {"type": "daily", "time": "19:00", "priority": 4, "enabled": False}
#: The design document's PUT body.
DOCUMENT_BODY = {"schedule": {"type": "daily", "time": "07:30:00", "priority": 1, "expiry": 3600, "enabled": True}}


def same_as_one_of(read_api, read_cli):
    """read_cli() equals read_api() taken just before or just after it (a next run computed from
    "now" may move on between two reads). Returns the first API answer."""
    before = read_api()
    expected = read_cli()
    after = read_api()
    assert expected in (before, after), (before, expected)
    return before
