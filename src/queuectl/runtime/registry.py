"""What a dispatcher knows of the helpers: the files in its own directory, and the catalog.

It rescans the helpers directory when a file there changed (names, sizes and mtimes), registers
what it found, and keeps a copy of the catalog that it reloads only when another process changed
it (the catalog version counter). Executions of a helper that is registered but not in this
directory are left to the dispatchers that have it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from queuectl.domain import keys
from queuectl.domain.discovered import DiscoveryResult
from queuectl.domain.errors import HelperLoadError, InvalidInput
from queuectl.domain.models import HelperRecord
from queuectl.runtime.discovery import discover
from queuectl.store import catalog, control
from queuectl.store.control import SyncReport
from queuectl.store.replies import maybe_text

if TYPE_CHECKING:
    from queuectl.infra.app import App

log = logging.getLogger(__name__)


def dir_fingerprint(directory: Path) -> tuple[Any, ...]:
    """Cheap change detector for the helpers directory (names, sizes, mtimes)."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return ("missing",)
    out = []
    for entry in entries:
        if entry.name.endswith(".py"):
            try:
                st = entry.stat()
            except OSError:
                continue
            out.append((entry.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def require_helpers_dir(directory: Path) -> None:
    """Refuse, with one line, a helpers directory that is not there (`run` and `helpers sync`)."""
    if not Path(directory).is_dir():
        raise InvalidInput(f"helpers directory not found: {directory} (set --helpers-dir or QUEUECTL_HELPERS_DIR)")


def sync(app: App) -> tuple[DiscoveryResult, SyncReport]:
    """Discover the configured helpers directory, register what it holds and plan its helpers'
    window (`helpers sync`: what a dispatcher does at start-up, without the loop)."""
    directory = app.settings.helpers_dir
    require_helpers_dir(directory)
    found = discover(directory, default_timezone=app.default_timezone)
    return found, control.register(app, found, directory)


class HelperRegistry:
    def __init__(self, app: App, *, preload: Callable[[list[str]], None]) -> None:
        self.app = app
        self.helpers_dir = app.settings.helpers_dir
        self.preload = preload  # have the workers import these files ahead of their executions
        self.sources: dict[str, str] = {}  # helper name -> file, from our own discovery
        self.foreign: set[str] = set()  # registered helpers we do not have
        self.records: dict[str, HelperRecord] = {}  # the catalog, as last read
        self.catalog_version: str | None = None
        self.fingerprint: tuple[Any, ...] | None = None
        self.last_rescan_mono = -1e9
        self.min_expiry = 0.0  # the smallest expiry of any plannable helper (the expire sweep's bound)
        self.bridge_notes: set[str] = set()  # [BRIDGE] lines logged already: each once per process

    def rescan(self, *, force: bool = False, plan: bool = True) -> DiscoveryResult | None:
        """Discover the helper files and register them when the directory changed (or `force`)."""
        fingerprint = dir_fingerprint(self.helpers_dir)
        if not force and fingerprint == self.fingerprint:
            return None
        self.last_rescan_mono = self.app.clock.monotonic()
        try:
            found = discover(self.helpers_dir, default_timezone=self.app.default_timezone)
        except HelperLoadError as exc:
            if force and self.fingerprint is None:
                raise
            log.error("[STARTUP] helpers not reloaded: %s", exc, extra={"event": "helpers_not_reloaded"})
            self.fingerprint = fingerprint
            return None
        self.fingerprint = fingerprint
        for error in found.errors:
            log.error(
                "[STARTUP] cannot load %s: %s",
                os.path.basename(error.source) or error.source,
                error.reason,
                extra={"event": "helper_file_not_loaded", "source": error.source, "error": error.reason},
            )
        for spec in found.helpers:
            note = spec.bridge_note
            if note is not None and note not in self.bridge_notes:
                self.bridge_notes.add(note)
                log.info("[BRIDGE] %s", note, extra={"event": "legacy_schedule_translated", "helper": spec.name})
        self.sources = {spec.name: spec.source for spec in found.helpers}
        self.foreign -= set(self.sources)
        self.preload(sorted(set(self.sources.values())))
        report = self.app.guarded(lambda: control.register(self.app, found, self.helpers_dir, plan=plan))
        log.info(
            "[STARTUP] %d helpers found (%d new, %d changed, %d unchanged, %d with operator overrides)",
            len(found.helpers),
            len(report.registered),
            len(report.updated),
            len(report.unchanged),
            len(report.overrides),
            extra={"event": "helpers_registered", "count": len(found.helpers)},
        )
        for name, problem in report.broken:
            log.error(
                "[STARTUP] helper %s is broken: %s",
                name,
                problem,
                extra={"event": "helper_broken", "helper": name, "error": problem},
            )
        for name in report.missing:
            log.warning(
                "[STARTUP] helper %s is missing from %s; its queued executions were removed",
                name,
                self.helpers_dir,
                extra={"event": "helper_missing", "helper": name},
            )
        if plan and report.plan.created:
            log.info(
                "[QUEUE] planned %d new executions after the helpers changed",
                report.plan.created,
                extra={"event": "helpers_replanned", "planned": report.plan.created},
            )
        return found

    def refresh(self, force: bool = False) -> None:
        """Reload the catalog when another process changed it (and rescan our directory then, so
        a helper file synced from another shell is known, and preloaded, before it falls due)."""
        version = maybe_text(self.app.client.get(keys.CATALOG_VERSION))
        if not force and version == self.catalog_version:
            return
        self.records = catalog.read_all(self.app.client)
        self.catalog_version = version
        expiries = [r.expiry for r in self.records.values() if r.plannable and r.expiry is not None]
        self.min_expiry = float(min(expiries)) if expiries else 0.0
        if not force:
            self.rescan(plan=False)

    def source_of(self, helper: str) -> str | None:
        """The file of a helper we can run, or None (rescanning first, at most once a tick, in
        case the file arrived since the last look)."""
        if helper not in self.sources and self.app.clock.monotonic() - self.last_rescan_mono > self.app.settings.tick:
            self.rescan(force=True, plan=False)
        return self.sources.get(helper)

    def leave_to_others(self, helper: str) -> None:
        """A helper we do not have: its executions are left for the dispatchers that have it."""
        if helper not in self.foreign:
            self.foreign.add(helper)
            log.warning(
                "[DISPATCHER] helper %s is registered but not in %s; leaving its executions to other dispatchers",
                helper,
                self.helpers_dir,
                extra={"event": "helper_left_to_others", "helper": helper},
            )

    def forget(self) -> None:
        """Redis lost its data: the next rescan registers everything again."""
        self.fingerprint = None
