"""The audit trail's records: who asked for an operator change, what it was, and why.

Every operator change (enable, disable, update, reset, run, cancel; from the CLI or the API) is
written to a capped Redis stream by the same script that makes the change (store/lua/), so a
change that is refused leaves no entry and an entry always names a change that happened. This
module builds the entries and reads them back; it touches no Redis.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from queuectl.domain.errors import InvalidInput
from queuectl.domain.models import iso, parse_iso

#: About how many entries the stream keeps (XADD MAXLEN ~: Redis trims whole nodes, so a few
#: more may stay).
AUDIT_MAXLEN = 10000
#: Longest reason accepted, in characters.
MAX_REASON = 500
ACTIONS = ("enable", "disable", "update", "reset", "run", "cancel")


def check_reason(reason: str | None) -> str | None:
    """The reason as stored (trimmed; None when empty); InvalidInput when it is too long or
    holds control characters (it is shown on one line)."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise InvalidInput("invalid reason: give a text")
    text = reason.strip()
    if len(text) > MAX_REASON:
        raise InvalidInput(f"invalid reason: {len(text)} characters, at most {MAX_REASON}")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInput("invalid reason: it holds control characters (a newline?); give one line")
    return text or None


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who asks for a change (`user@host` on the command line, the token's name over HTTP),
    through which front, and why."""

    who: str
    via: str  # "cli" | "api"
    reason: str | None = None

    def entry(
        self,
        *,
        at: float,
        action: str,
        helper: str,
        execution_id: str | None = None,
        before: Any = None,
        after: Any = None,
    ) -> AuditEntry:
        """The audit entry of this actor's change, before the stream gives it an id."""
        return AuditEntry(
            entry_id="",
            at=at,
            who=self.who,
            via=self.via,
            action=action,
            helper=helper,
            execution_id=execution_id,
            before=before,
            after=after,
            reason=self.reason,
        )


def cli_actor(reason: str | None = None) -> Actor:
    """The person at this terminal: `user@host`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        import os

        user = str(os.getuid())
    host = socket.gethostname().split(".")[0] or "localhost"
    return Actor(who=f"{user}@{host}", via="cli", reason=check_reason(reason))


def api_actor(token_name: str, reason: str | None = None) -> Actor:
    """A client of `queuectl serve`, known by its token's name."""
    return Actor(who=token_name, via="api", reason=check_reason(reason))


def body_reason(raw: bytes) -> str | None:
    """The `reason` of an optional JSON body `{"reason": "..."}` (an empty body: none)."""
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput('invalid request body: not JSON; give {"reason": "..."} or nothing') from None
    if not isinstance(data, dict):
        raise InvalidInput('invalid request body: give a JSON object, {"reason": "..."}')
    return check_reason(data.get("reason"))


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One recorded change. `before`/`after`: the schedule in force before and after it (JSON,
    None when there was none or the change did not touch the schedule: run, cancel)."""

    entry_id: str  # the stream entry's id ('' for a helper's last change)
    at: float
    who: str
    via: str
    action: str
    helper: str
    execution_id: str | None = None
    before: Any = None
    after: Any = None
    reason: str | None = None

    def fields(self) -> list[str]:
        """The stream entry's fields, flat (field, value, ...), as the scripts write them."""
        out = ["at", f"{self.at:.3f}", "who", self.who, "via", self.via, "action", self.action, "helper", self.helper]
        if self.execution_id:
            out += ["execution", self.execution_id]
        if self.before is not None:
            out += ["before", json.dumps(self.before, separators=(",", ":"), sort_keys=True)]
        if self.after is not None:
            out += ["after", json.dumps(self.after, separators=(",", ":"), sort_keys=True)]
        if self.reason:
            out += ["reason", self.reason]
        return out

    def script_args(self) -> list[str]:
        """What the changing script's record_change (lua/_lib.lua) takes: the stream's MAXLEN,
        the helper, its last-change JSON, then the entry's fields."""
        return [str(AUDIT_MAXLEN), self.helper, self.summary(), *self.fields()]

    def brief(self) -> dict[str, Any]:
        """The change without its stream id and schedules: a helper's `last_change`."""
        return {k: v for k, v in self.to_json().items() if k not in ("id", "before", "after")}

    def summary(self) -> str:
        """The helper's last change as stored (small JSON: every `helpers show` reads it)."""
        return json.dumps(self.brief(), separators=(",", ":"))

    @classmethod
    def from_fields(cls, entry_id: str, data: Mapping[str, str]) -> AuditEntry:
        return cls(
            entry_id=entry_id,
            at=_float(data.get("at")),
            who=data.get("who", "?"),
            via=data.get("via", "?"),
            action=data.get("action", "?"),
            helper=data.get("helper", "?"),
            execution_id=data.get("execution") or None,
            before=_json(data.get("before")),
            after=_json(data.get("after")),
            reason=data.get("reason") or None,
        )

    @classmethod
    def from_summary(cls, raw: str) -> AuditEntry | None:
        data = _json(raw)
        if not isinstance(data, dict):
            return None
        try:
            at = parse_iso(str(data.get("at")))
        except (TypeError, ValueError):
            at = 0.0
        return cls(
            entry_id="",
            at=at,
            who=str(data.get("who", "?")),
            via=str(data.get("via", "?")),
            action=str(data.get("action", "?")),
            helper=str(data.get("helper", "?")),
            execution_id=data.get("execution_id"),
            reason=data.get("reason"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.entry_id,
            "at": iso(self.at),
            "who": self.who,
            "via": self.via,
            "action": self.action,
            "helper": self.helper,
            "execution_id": self.execution_id,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
        }


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
