"""The helper catalog (`internalAvailableHelpers`): code defaults, operator overrides, effective
schedules, and compare-and-set writes.

An override is what an operator changed with the CLI. It is either a patch (`{"enabled": false}`)
applied over the code default, or a full schedule (it has a `type`) that replaces it. Start-up
refreshes code defaults but keeps overrides, so an operator's change survives restarts until
`helpers reset`. Every write is a compare-and-set on the entry's revision (catalog_put.lua).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from queuectl.domain.errors import ConcurrentChange, InvalidSchedule, UnknownHelper
from queuectl.domain.keys import AVAILABLE_HELPERS
from queuectl.domain.models import HelperRecord
from queuectl.domain.schedule import ScheduleConfig, parse_schedule
from queuectl.store.replies import maybe_text, text_map

if TYPE_CHECKING:
    import redis

    from queuectl.store.scripts import Scripts

CAS_ATTEMPTS = 20


def decode_entry(name: str, raw: str) -> HelperRecord:
    """A catalog value as a record; a corrupt value becomes a `broken` record, never a crash."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return HelperRecord.from_redis(name, data)
    except (ValueError, TypeError) as exc:
        return HelperRecord(
            name=name,
            rev=-1,
            status="broken",
            problem=f"corrupt catalog entry ({exc})",
            schedule=None,
            default=None,
            override=None,
            source=None,
            class_name=None,
        )


def encode_entry(record: HelperRecord) -> str:
    return json.dumps(record.to_redis(), separators=(",", ":"), sort_keys=False)


def read_all(client: redis.Redis) -> dict[str, HelperRecord]:
    raw = text_map(client.hgetall(AVAILABLE_HELPERS))
    return {name: decode_entry(name, value) for name, value in sorted(raw.items())}


def read_one(client: redis.Redis, name: str) -> HelperRecord:
    check_name(name)
    raw = maybe_text(client.hget(AVAILABLE_HELPERS, name))
    if raw is None:
        raise UnknownHelper(name)
    return decode_entry(name, raw)


def expected_rev(record: HelperRecord | None) -> str:
    if record is None:
        return ""
    return "corrupt" if record.rev < 0 else str(record.rev)


def effective(
    default: ScheduleConfig | None, override: Mapping[str, Any] | None, default_timezone: str
) -> tuple[ScheduleConfig | None, str | None]:
    """The schedule in force and None, or None and why there is none. A full override (it has a
    `type`) replaces the code default; a patch is laid over it; no override leaves it as it is."""
    if override is None:
        return (default, None) if default is not None else (None, "no valid schedule")
    if "type" in override:
        merged = dict(override)
    elif default is None:
        return None, "no valid schedule"
    else:
        merged = {**default.to_dict(), **override}
    try:
        return parse_schedule(merged, default_timezone=default_timezone), None
    except InvalidSchedule as exc:
        return None, str(exc)


def with_schedule(
    record: HelperRecord,
    *,
    default: ScheduleConfig | None,
    override: dict[str, Any] | None,
    default_timezone: str,
    now: float,
    status: str | None = None,
    problem: str | None = None,
    source: str | None = None,
    class_name: str | None = None,
    in_force: ScheduleConfig | None = None,
    origin: tuple[str, str | None] | None = None,
) -> HelperRecord:
    """A copy of `record` with new default/override and the schedule in force worked out again
    (an invalid one keeps the schedule in force before it, and makes the helper broken).
    `in_force`: the caller parsed the override, a whole schedule, already. `origin`: the code
    default's (schedule_source, legacy_call), when discovery says it anew."""
    config, merge_problem = (in_force, None) if in_force is not None else effective(default, override, default_timezone)
    final_status = status or ("ok" if config else "broken")
    if final_status == "ok" and config is None:
        final_status = "broken"
    return HelperRecord(
        name=record.name,
        # revisions never repeat, even after Redis lost the catalog: a planner holding an old
        # revision must never match a new entry
        rev=max(record.rev + 1, int(now * 1000)),
        status=final_status,
        problem=problem or (merge_problem if config is None else None),
        schedule=config if config is not None else record.schedule,
        default=default,
        override=override,
        source=source if source is not None else record.source,
        class_name=class_name if class_name is not None else record.class_name,
        updated_at=now,
        schedule_source=origin[0] if origin is not None else record.schedule_source,
        legacy_call=origin[1] if origin is not None else record.legacy_call,
    )


def same_content(a: HelperRecord | None, b: HelperRecord) -> bool:
    """True when writing `b` over `a` would change nothing but the revision and timestamp."""
    if a is None:
        return False
    ra, rb = a.to_redis(), b.to_redis()
    for k in ("rev", "updated_at"):
        ra.pop(k, None)
        rb.pop(k, None)
    return ra == rb


def put_many(
    scripts: Scripts, pairs: Iterable[tuple[HelperRecord | None, HelperRecord]], audit: Sequence[str] = ()
) -> list[str]:
    """Compare-and-set many entries; returns the names that lost a race. `audit` (an operator's
    change of one entry) is recorded by the same script, only if the write is made."""
    entries = [(new.name, expected_rev(old), encode_entry(new)) for old, new in pairs]
    conflicts: list[str] = []
    for i in range(0, len(entries), 500):
        conflicts += scripts.catalog_put(entries[i : i + 500], audit if i == 0 else ())
    return conflicts


def change(
    client: redis.Redis,
    scripts: Scripts,
    name: str,
    mutate: Callable[[HelperRecord], HelperRecord],
    audit: Callable[[HelperRecord, HelperRecord], Sequence[str]] | None = None,
) -> tuple[HelperRecord, HelperRecord]:
    """Read-mutate-CAS one entry, retrying when another process wrote in between.

    `mutate` may raise (for example InvalidSchedule); then nothing is written. `audit(old, new)`
    gives the audit entry the write records (in the same script: only a write that is made is
    recorded). Returns (old, new).
    """
    for _ in range(CAS_ATTEMPTS):
        old = read_one(client, name)
        new = mutate(old)
        if not put_many(scripts, [(old, new)], audit(old, new) if audit is not None else ()):
            return old, new
    raise ConcurrentChange(f"helper {name!r} kept changing under us; try again")


def next_run(record: HelperRecord, now: float) -> float | None:
    """The helper's next occurrence after `now` (None when disabled, broken or never)."""
    if not record.plannable or record.schedule is None:
        return None
    return _next_after(record.schedule, now)


@functools.lru_cache(maxsize=1024)
def _next_after(schedule: ScheduleConfig, now: float) -> float | None:
    """Helpers often share a schedule (`*/15 * * * *`): a listing works each one out once."""
    from datetime import datetime

    from queuectl.domain.schedule import next_occurrence

    found = next_occurrence(schedule, datetime.fromtimestamp(now, tz=UTC))
    return found.timestamp() if found else None


def schedule_json(schedule: ScheduleConfig | None) -> dict[str, Any] | None:
    """A schedule as `--json` shows it: its canonical form with the expiry in force, defaulted or not."""
    if schedule is None:
        return None
    return {**schedule.to_dict(), "expiry": schedule.expiry}


def helper_json(record: HelperRecord, now: float) -> dict[str, Any]:
    """A helper as `--json` shows it (stable snake_case keys, ISO times)."""
    from queuectl.domain.models import iso

    return {
        "name": record.name,
        "enabled": record.enabled,
        "status": record.status,
        "problem": record.problem,
        "schedule": schedule_json(record.schedule),
        "next_run": iso(next_run(record, now)),
        "overridden": record.overridden,
        "override": record.override,
        "default": record.default.to_dict() if record.default is not None else None,
        "source": record.source,
        "schedule_source": record.schedule_source,
        "legacy_call": record.legacy_call,
        "class": record.class_name,
        "revision": record.rev,
        "updated_at": iso(record.updated_at),
    }


def check_name(name: str) -> str:
    """Refuse a helper name that is not in the allowed form before it reaches Redis."""
    from queuectl.domain.keys import NAME_RE

    if not NAME_RE.match(name or ""):
        raise UnknownHelper(name)
    return name
