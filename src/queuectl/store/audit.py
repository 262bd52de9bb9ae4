"""Read side of the audit trail: the capped stream of operator changes, newest first, and each
helper's last change. The entries are written by the scripts that make the changes
(catalog_put.lua, run.lua, cancel.lua); nothing here writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.audit import AuditEntry
from queuectl.store.replies import maybe_text, text, text_map

if TYPE_CHECKING:
    import redis

#: Stream entries read per round trip.
PAGE = 500


def query(
    client: redis.Redis, *, helper: str | None = None, since: float | None = None, limit: int = 50
) -> list[AuditEntry]:
    """Changes, newest first, of one helper or all, made at or after `since` (Unix seconds).

    Entries are in the order Redis added them, and their `at` is the changer's clock: the walk
    stops at the first one older than `since`."""
    found: list[AuditEntry] = []
    upper = "+"
    while len(found) < limit:
        rows: list[Any] = list(client.xrevrange(keys.AUDIT, max=upper, min="-", count=PAGE) or [])
        if not rows:
            break
        for raw_id, raw_fields in rows:
            entry = AuditEntry.from_fields(text(raw_id), text_map(raw_fields or {}))
            if since is not None and entry.at < since:
                return found
            if helper is None or entry.helper == helper:
                found.append(entry)
                if len(found) >= limit:
                    return found
        upper = "(" + text(rows[-1][0])
    return found


def last_change(client: redis.Redis, helper: str) -> AuditEntry | None:
    """The helper's most recent recorded change, or None."""
    raw = maybe_text(client.hget(keys.LAST_CHANGE, helper))
    return AuditEntry.from_summary(raw) if raw else None
