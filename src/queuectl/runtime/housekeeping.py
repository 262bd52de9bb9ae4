"""The dispatcher's upkeep: at start-up, register the helpers and plan the window; then, each
tick or expansion, beat its heartbeat, finalise abandoned claims, expire what missed its deadline,
extend the window, prune history, and notice that Redis lost its data.

Each step is one or a few bounded Lua calls, run by the loop through its Redis guard.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

from queuectl import __version__
from queuectl.domain import keys
from queuectl.domain.errors import HelperLoadError
from queuectl.domain.models import format_time
from queuectl.runtime.registry import HelperRegistry, require_helpers_dir
from queuectl.store import control, dispatchers, planner
from queuectl.store.history import prune as prune_history
from queuectl.store.planner import PlanReport, keep_seconds
from queuectl.store.scripts import SCAN_MAX

if TYPE_CHECKING:
    from queuectl.infra.app import App

log = logging.getLogger(__name__)

#: Expiry-sweep calls per tick at most.
SWEEP_CALLS = 50
#: Abandoned claims one reap call finalises at most.
REAP_BATCH = 200


def span(seconds: float) -> str:
    """'2 h', '5 min', '90 s'."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def log_anomalies(anomalies: list[tuple[str, str]]) -> None:
    for execution_id, why in anomalies:
        log.error(
            "[QUEUE] removed unusable queue entry %r (%s)",
            execution_id,
            why,
            extra={"event": "queue_entry_removed", "execution_id": execution_id, "why": why},
        )


class Housekeeping:
    def __init__(self, app: App, registry: HelperRegistry, *, dispatcher_id: str) -> None:
        self.app = app
        self.registry = registry
        self.settings = app.settings
        self.dispatcher_id = dispatcher_id
        self.started_at = app.clock.time()
        self.keep = keep_seconds(app.settings.history_ttl)
        self.epoch: str | None = None

    def start_up(self) -> None:
        """Before the loop: check Redis answers (one line if not) and the helpers directory is
        there, warn about an unsafe Redis, register the helpers (none: an error), prune history,
        plan the window, stamp the epoch."""
        from queuectl.infra.redischeck import check

        app, s = self.app, self.settings
        app.guarded(app.client.ping)  # fail fast, with one line, before anything else
        require_helpers_dir(s.helpers_dir)
        log.info(
            "[STARTUP] queuectl %s dispatcher %s starting: Redis %s, helpers %s",
            __version__,
            self.dispatcher_id,
            app.safe_url,
            s.helpers_dir,
            extra={"event": "dispatcher_starting", "version": __version__, "redis": app.safe_url},
        )
        for warning in app.guarded(lambda: check(app.client))["warnings"]:
            log.warning("[STARTUP] %s", warning, extra={"event": "redis_config_warning"})
        if self.registry.rescan(force=True, plan=False) is None:
            raise HelperLoadError("no helpers could be registered")
        app.guarded(lambda: self.registry.refresh(force=True))
        app.guarded(lambda: self.prune("[STARTUP]"))
        report = app.guarded(self.plan_window)
        log.info(
            "[QUEUE] planned %d new executions for the next %s (%d already queued, %d helpers)",
            report.created,
            span(self.settings.window),
            report.existing,
            report.helpers,
            extra={"event": "window_planned", "planned": report.created, "existing": report.existing},
        )
        app.guarded(self.start_epoch)

    def heartbeat(self, running: int) -> None:
        """Say this dispatcher is alive, with `running` executions (`status` shows it)."""
        heartbeat = dispatchers.Heartbeat(
            dispatcher_id=self.dispatcher_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            started_at=self.started_at,
            running=running,
            concurrency=self.settings.concurrency,
        )
        dispatchers.beat(self.app.client, heartbeat, now=self.app.clock.time(), ttl=max(5.0, 3 * self.settings.tick))

    @property
    def horizon(self) -> float:
        """How far ahead to plan: the window, plus one expansion period so the window is still
        full just before the next expansion."""
        return self.settings.window + self.settings.expand_every

    def prune(self, where: str) -> None:
        pruned = prune_history(self.app.scripts, now=self.app.clock.time(), history_ttl=self.settings.history_ttl)
        if pruned:
            log.info(
                "%s pruned %d history entries older than %gs",
                where,
                pruned,
                self.settings.history_ttl,
                extra={"event": "history_pruned", "count": pruned},
            )

    def plan_window(self) -> PlanReport:
        """Plan the horizon for the helpers of the catalog as last read (read again first if
        another process changed it)."""
        self.registry.refresh()
        return planner.plan(
            self.app.scripts,
            self.registry.records.values(),
            now=self.app.clock.time(),
            window=self.horizon,
            history_ttl=self.settings.history_ttl,
            write_hashes=not self.settings.compact_queue,
        )

    def expand(self) -> None:
        """Rescan the helpers (if a file changed), prune history and extend the window."""
        self.registry.rescan(plan=False)
        self.prune("[QUEUE]")
        report = self.plan_window()
        if report.created:
            log.info(
                "[QUEUE] window extended to the next %s: %d new executions",
                span(self.settings.window),
                report.created,
                extra={"event": "window_extended", "planned": report.created},
            )
        else:
            log.debug("[QUEUE] window checked: nothing new to plan", extra={"event": "window_checked"})

    def reap(self) -> None:
        """Finalise the running executions whose dispatcher stopped renewing their leases."""
        now = format_time(self.app.clock.time())
        while True:
            reaped, dropped, requeued = self.app.scripts.reap(now=now, keep=self.keep, limit=REAP_BATCH)
            for execution_id in reaped:
                log.warning(
                    "[DISPATCHER] %s abandoned: its dispatcher stopped renewing the lease",
                    execution_id,
                    extra={"event": "execution_abandoned", "execution_id": execution_id},
                )
            for execution_id in requeued:
                log.warning(
                    "[DISPATCHER] %s abandoned by its dispatcher; queued again (retry_on_abandon)",
                    execution_id,
                    extra={"event": "execution_requeued", "execution_id": execution_id},
                )
            if len(reaped) + dropped + len(requeued) < REAP_BATCH:
                break

    def sweep(self) -> None:
        """Expire queued executions past their deadline, in bounded slices."""
        current = self.app.clock.time()
        now = format_time(current)
        # nothing due later than now - (smallest expiry of any helper) can be past its deadline
        upto = current - self.registry.min_expiry
        offset, total = 0, 0
        for _ in range(SWEEP_CALLS):
            expired, looked, kept, anomalies = self.app.scripts.expire(
                now=now, keep=self.keep, offset=offset, limit=SCAN_MAX, upto=upto
            )
            total += expired
            log_anomalies(anomalies)
            offset += kept
            if looked < SCAN_MAX:
                break
        if total:
            log.warning(
                "[QUEUE] %d executions expired before they could start",
                total,
                extra={"event": "executions_expired", "count": total},
            )

    def start_epoch(self) -> None:
        self.epoch = control.ensure_epoch(self.app)

    def data_lost(self) -> bool:
        """Notice that Redis lost its data (restart without persistence, FLUSHALL) and rebuild:
        the catalog from the helpers directory, then the window. True when it did."""
        current = self.app.client.get(keys.EPOCH)
        if self.epoch is None or current == self.epoch:
            return False
        lost = sorted(name for name, record in self.registry.records.items() if record.overridden)
        log.error(
            "[DISPATCHER] Redis data reset detected (the epoch marker %s): re-seeding the catalog "
            "from %s and rebuilding the window",
            "changed" if current else "is gone",
            self.settings.helpers_dir,
            extra={"event": "redis_data_reset"},
        )
        if lost:
            log.error(
                "[DISPATCHER] operator overrides were LOST and must be re-applied: %s",
                ", ".join(lost),
                extra={"event": "overrides_lost", "helpers": lost},
            )
        self.registry.forget()
        self.registry.rescan(force=True, plan=True)
        self.start_epoch()
        self.registry.refresh(force=True)
        return True
