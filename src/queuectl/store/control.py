"""Operator actions: register (what discovery found), enable, disable, update, reset.

Each action is a compare-and-set on the catalog followed by re-planning, so the queue always
matches the catalog: enable plans the window, disable removes the helper's queued executions
(history stays), update replaces the schedule and re-plans. The CLI and the dispatcher call
these; neither holds logic of its own.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.audit import Actor
from queuectl.domain.discovered import DiscoveryResult, LoadError
from queuectl.domain.errors import InvalidInput, InvalidSchedule
from queuectl.domain.models import HelperRecord
from queuectl.domain.schedule import ScheduleConfig, parse_schedule
from queuectl.store import catalog, planner
from queuectl.store.replies import text

if TYPE_CHECKING:
    from queuectl.infra.app import App


@dataclass(kw_only=True)
class SyncReport:
    registered: list[str] = field(default_factory=list)  # new in the catalog
    updated: list[str] = field(default_factory=list)  # code default or source changed
    unchanged: list[str] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)  # (name, problem)
    missing: list[str] = field(default_factory=list)  # source gone from the helpers dir
    load_errors: list[LoadError] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # helpers whose operator override is kept
    unplanned: int = 0
    plan: planner.PlanReport = field(default_factory=planner.PlanReport)
    records: dict[str, HelperRecord] = field(default_factory=dict)  # the entries as registered

    def to_json(self) -> dict[str, Any]:
        return {
            "registered": self.registered,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "broken": [{"name": n, "problem": p} for n, p in self.broken],
            "missing": self.missing,
            "load_errors": [{"source": e.source, "reason": e.reason} for e in self.load_errors],
            "overrides_kept": self.overrides,
            "executions_created": self.plan.created,
            "executions_removed": self.unplanned,
        }


def _under(path: str | None, directory: str) -> bool:
    if not path:
        return False
    return _real_dir(os.path.dirname(path)) == directory


@functools.lru_cache(maxsize=256)
def _real_dir(directory: str) -> str:
    """realpath of a helper file's directory (thousands of helpers share a handful of them)."""
    return os.path.realpath(directory)


def register(app: App, found: DiscoveryResult, helpers_dir: str | os.PathLike[str], *, plan: bool = True) -> SyncReport:
    """Upsert discovered helpers into the catalog, keeping overrides, then re-plan.

    Entries whose source file sits in `helpers_dir` but no longer defines them become `missing`
    (their queued executions are removed); entries from a file that failed to import become
    `broken` with the import error, so a half-saved file does not erase a helper.
    """
    report = SyncReport(load_errors=list(found.errors))
    directory = os.path.realpath(os.fspath(helpers_dir))
    failed_sources = {os.path.realpath(e.source): e.reason for e in found.errors}
    now = app.clock.time()
    tz = app.default_timezone

    def desired(old: HelperRecord | None, name: str) -> HelperRecord | None:
        spec = specs.get(name)
        base = old or HelperRecord(
            name=name,
            rev=0,
            status="ok",
            problem=None,
            schedule=None,
            default=None,
            override=None,
            source=None,
            class_name=None,
        )
        if spec is not None:
            default, problem = spec.schedule, spec.problem  # discovery read the schedule
            override = old.override if old else None
            if problem and override and "type" in override:
                # the operator's full schedule stands in for the invalid code default
                config, _ = catalog.effective(None, override, tz)
                if config is not None:
                    problem = None
            return catalog.with_schedule(
                base,
                default=default,
                override=override,
                default_timezone=tz,
                now=now,
                status="broken" if problem else None,
                problem=problem,
                source=spec.source,
                class_name=spec.class_name,
                origin=(spec.schedule_source, spec.legacy_call),
            )
        if old is None or not _under(old.source, directory):
            return None  # another directory's helper: not ours to judge
        source = os.path.realpath(old.source or "")
        if source in failed_sources:
            status, problem = "broken", f"{os.path.basename(source)}: {failed_sources[source]}"
        else:
            status, problem = "missing", "its source file no longer defines it"
        if old.status == status and old.problem == problem:
            return old
        return catalog.with_schedule(
            old,
            default=old.default,
            override=old.override,
            default_timezone=tz,
            now=now,
            status=status,
            problem=problem,
        )

    specs = {spec.name: spec for spec in found.helpers}
    pending = set(specs)
    existing = catalog.read_all(app.client)
    pending |= {n for n, r in existing.items() if _under(r.source, directory)}
    final: dict[str, HelperRecord] = {}
    for _ in range(catalog.CAS_ATTEMPTS):
        writes: list[tuple[HelperRecord | None, HelperRecord]] = []
        for name in sorted(pending):
            old = existing.get(name)
            new = desired(old, name)
            if new is None:
                continue
            if old is not None and (new is old or catalog.same_content(old, new)):
                final[name] = old
                continue
            writes.append((old, new))
            final[name] = new
        conflicts = set(catalog.put_many(app.scripts, writes))
        for old, new in writes:
            if new.name in conflicts:
                continue
            if old is None:
                report.registered.append(new.name)
            else:
                report.updated.append(new.name)
        if not conflicts:
            break
        pending = conflicts
        fresh = app.client.hmget(keys.AVAILABLE_HELPERS, sorted(conflicts))
        for name, raw in zip(sorted(conflicts), fresh):
            if raw is None:
                existing.pop(name, None)
            else:
                existing[name] = catalog.decode_entry(name, text(raw))
    touched = set(report.registered) | set(report.updated)
    for name, record in sorted(final.items()):
        if name not in touched:
            report.unchanged.append(name)
        if record.status == "broken":
            report.broken.append((name, record.problem or "broken"))
        elif record.status == "missing":
            report.missing.append(name)
        if record.overridden:
            report.overrides.append(name)
    for name in sorted(touched):
        record = final[name]
        if not record.plannable:
            report.unplanned += planner.unplan(app.client, app.scripts, name)
        elif existing.get(name) is not None and existing[name].schedule != record.schedule:
            report.unplanned += planner.unplan(app.client, app.scripts, name)
    ensure_epoch(app)
    report.records = final
    if plan:
        report.plan = planner.plan(
            app.scripts,
            final.values(),
            now=app.clock.time(),
            window=app.settings.window,
            history_ttl=app.settings.history_ttl,
            write_hashes=not app.settings.compact_queue,
        )
    return report


def ensure_epoch(app: App) -> str:
    """The database's epoch marker, created on first use; its loss means Redis lost its data."""
    import secrets

    from queuectl.domain.keys import EPOCH

    fresh = f"{app.clock.time():.0f}-{secrets.token_hex(4)}"
    app.client.set(EPOCH, fresh, nx=True)
    return str(app.client.get(EPOCH) or fresh)


@dataclass(kw_only=True)
class ChangeReport:
    helper: HelperRecord
    removed: int
    created: int
    changed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "helper": self.helper.name,  # the design's key (the HTTP API's bodies)
            "name": self.helper.name,
            "enabled": self.helper.enabled,
            "schedule": self.helper.schedule.to_dict() if self.helper.schedule is not None else None,
            "overridden": self.helper.overridden,
            "changed": self.changed,
            "executions_removed": self.removed,
            "executions_created": self.created,
        }


Override = dict[str, Any] | ScheduleConfig | None


def _audit(app: App, action: str, actor: Actor | None) -> Callable[[HelperRecord, HelperRecord], list[str]] | None:
    """The audit entry of an operator's change (catalog_put.lua records it with the write)."""
    if actor is None:
        return None

    def entry(old: HelperRecord, new: HelperRecord) -> list[str]:
        return actor.entry(
            at=app.clock.time(),
            action=action,
            helper=new.name,
            before=catalog.schedule_json(old.schedule),
            after=catalog.schedule_json(new.schedule),
        ).script_args()

    return entry


def _apply(
    app: App,
    name: str,
    new_override: Callable[[HelperRecord], Override] | None,
    *,
    action: str = "update",
    actor: Actor | None = None,
) -> ChangeReport:
    """CAS the helper with a new override and re-plan it. The override is a patch (a dict), a
    whole schedule (already parsed: it replaces the code default), or None to drop it. With an
    `actor`, the change is recorded in the audit trail by the same script that writes it."""
    tz = app.default_timezone

    def mutate(old: HelperRecord) -> HelperRecord:
        override = new_override(old) if new_override is not None else None
        in_force = override if isinstance(override, ScheduleConfig) else None
        # a helper whose file is gone or fails to import stays so: an override cannot fix that
        keep = old.status == "missing" or (old.status == "broken" and old.default is not None)
        patch = None if isinstance(override, ScheduleConfig) else override
        return catalog.with_schedule(
            old,
            default=old.default,
            override=in_force.to_dict() if in_force is not None else patch,
            in_force=in_force,
            default_timezone=tz,
            now=app.clock.time(),
            status=old.status if keep else None,
            problem=old.problem if keep else None,
        )

    old, new = catalog.change(app.client, app.scripts, name, mutate, _audit(app, action, actor))
    changed = not catalog.same_content(old, new)
    removed = created = 0
    if old.schedule != new.schedule or not new.plannable:
        removed = planner.unplan(app.client, app.scripts, name)
    if new.plannable:
        created = planner.plan(
            app.scripts,
            [new],
            now=app.clock.time(),
            window=app.settings.window,
            history_ttl=app.settings.history_ttl,
            write_hashes=not app.settings.compact_queue,
        ).created
    return ChangeReport(helper=new, removed=removed, created=created, changed=changed)


def set_enabled(app: App, name: str, enabled: bool, *, actor: Actor | None = None) -> ChangeReport:
    """Enable or disable a helper; the choice persists as an override until `reset`."""

    def override(old: HelperRecord) -> dict[str, Any] | None:
        base = dict(old.override or {})
        base["enabled"] = enabled
        if "type" not in base and old.default is not None and old.default.enabled == enabled:
            base.pop("enabled")
        return base or None

    return _apply(app, name, override, action="enable" if enabled else "disable", actor=actor)


def update(
    app: App, name: str, changes: Mapping[str, Any], *, replace: bool, actor: Actor | None = None
) -> ChangeReport:
    """Change a helper's schedule.

    replace=True (a `--config` body): `changes` is the whole new schedule. replace=False (flags):
    `changes` is laid over the schedule in force; changing `type` drops the old type's keys.
    Keys not given keep: `enabled` and `timezone` of the schedule in force.
    """
    if not changes:
        raise InvalidInput("nothing to update: give --config or at least one schedule option")

    def override(old: HelperRecord) -> ScheduleConfig:
        current = old.schedule.to_dict() if old.schedule is not None else {}
        if replace:
            new = dict(changes)
        else:
            new = dict(current)
            if "type" in changes and changes["type"] != current.get("type"):
                for k in ("time", "every_days", "interval_seconds", "interval_minutes", "cron", "expiry"):
                    new.pop(k, None)
            if "interval_minutes" in changes:
                new.pop("interval_seconds", None)
            if "interval_seconds" in changes:
                new.pop("interval_minutes", None)
            new.update(changes)
        new.setdefault("enabled", current.get("enabled", True))
        new.setdefault("timezone", current.get("timezone", app.default_timezone))
        if "type" not in new:
            raise InvalidSchedule("type", None, "required")
        return parse_schedule(new, default_timezone=app.default_timezone)  # the one parse of an update

    return _apply(app, name, override, action="update", actor=actor)


def reset(app: App, name: str, *, actor: Actor | None = None) -> ChangeReport:
    """Drop the operator override: the code default is in force again."""
    return _apply(app, name, None, action="reset", actor=actor)
