"""The long-running dispatcher behind `queuectl run`.

One thread, one loop: wait for the earliest of (a worker outcome, the next due execution, the
next tick, a lease renewal, the next window expansion, a helper timeout), then do what is due.
It wakes for the earliest due execution rather than polling blindly, and still checks every
`tick` seconds for changes made by other processes. Redis errors never end the loop: it logs
once per outage, keeps outcomes it could not write, and writes them when Redis is back.
"""
from __future__ import annotations

import logging
import math
import os
import random
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from queuectl import __version__
from queuectl.store import catalog, control
from queuectl.domain import keys
from queuectl.runtime.discovery import DiscoveryResult, discover
from queuectl.domain.errors import HelperLoadError
from queuectl.runtime.executor import Job, Result, WorkerPool
from queuectl.store.history import prune as prune_history
from queuectl.domain.models import HelperRecord
from queuectl.store.planner import keep_seconds
from queuectl.store.scripts import Outcome, format_time

if TYPE_CHECKING:
    from queuectl.infra.app import App

log = logging.getLogger(__name__)

#: Due queue members one claim or expiry call looks at (bounds how long a script blocks Redis).
SCAN = 1000
#: Expiry-sweep calls per tick at most.
SWEEP_CALLS = 50
#: Seconds a Sentinel master that had a replica keeps requiring replica acks for claims.
REPLICA_MEMORY = 60.0
#: Starts (and successes) logged one by one per second; beyond that a summary line.
LOG_EACH = 20
#: Longest wait between two attempts of a failed execution, seconds.
RETRY_CAP = 3600.0
#: Seconds ahead of its time an execution is claimed and handed to a worker, which waits for the
#: exact instant: the claim's round trip and the hand-over are then not part of the lateness.
LEAD = 0.05
#: Jobs that may wait for a worker on top of the running ones, while helpers finish fast.
PREFETCH = 500
#: While workers are busy, outcomes are collected at most this often (seconds): each wake-up of
#: the dispatcher takes CPU from the workers, and a few ms of delay in writing outcomes is free.
COALESCE = 0.002
#: After handing over executions for a coming instant, the dispatcher sleeps until that instant
#: plus this (seconds) instead of waking for each worker's start line: the two cores belong to
#: the workers while a second's executions start.
QUIET = 0.005


@dataclass(kw_only=True)
class DispatcherOptions:
    helpers_dir: Path
    concurrency: int = 10
    tick: float = 1.0
    window: float = 7200.0
    expand_every: float = 300.0
    grace: float = 30.0
    lease: float = 30.0
    history_ttl: float = 86400.0
    memory_limit: int = 0  # MB of address space per helper process; 0 = no cap
    once: bool = False


def new_dispatcher_id() -> str:
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


def _dir_fingerprint(directory: Path) -> tuple[Any, ...]:
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


class Dispatcher:
    def __init__(self, app: "App", options: DispatcherOptions, *, dispatcher_id: str | None = None,
                 pool_env: dict[str, str] | None = None) -> None:
        self.app = app
        self.opt = options
        self.id = dispatcher_id or new_dispatcher_id()
        self.clock = app.clock
        self.keep = keep_seconds(options.history_ttl)
        self.pool = WorkerPool(options.concurrency, dispatcher_id=self.id, env=pool_env,
                               monotonic=self.clock.monotonic, memory_limit_mb=options.memory_limit,
                               lease=options.lease, prefetch=PREFETCH)
        self.sources: dict[str, str] = {}            # helper name -> file, from our own discovery
        self.foreign: set[str] = set()               # registered helpers we do not have
        self.records: dict[str, HelperRecord] = {}   # catalog cache (timeouts)
        self.catalog_version: str | None = None
        self.fingerprint: tuple[Any, ...] | None = None
        self.running: dict[str, Job] = {}
        self.pending: list[Outcome] = []
        self.handed_back: list[Job] = []  # claims a worker never started: release them
        self.quiet_until = 0.0  # wall time: see QUIET
        self.next_due: float | None = None           # wall time of the queue head
        self.claim_now = True
        self.stopping = False
        self.hurry = False
        self.stop_mono: float | None = None
        self.outage_since: float | None = None
        self.started_at = self.clock.time()
        self.token_counter = 0
        self.failures = 0
        self.successes = 0
        self.last_rescan_mono = -1e9
        self.host = socket.gethostname()
        self.last_crash_log: dict[str, float] = {}
        self.epoch: str | None = None
        self.min_expiry = 0.0
        self.oom_since: float | None = None
        self.replicas = 0  # with Sentinel: replicas of the master, so claims wait for one to ack
        self.renew_now = False
        self.claim_paused_until = -1e9
        self.replica_seen: dict[tuple[Any, ...], float] = {}
        self.last_probe_mono = -1e9
        self.log_second = 0
        self.log_counts = {"started": 0, "succeeded": 0}

    # -- signals ------------------------------------------------------------------------
    @property
    def horizon(self) -> float:
        """How far ahead to plan: the window, plus one expansion period so the window is still
        full just before the next expansion."""
        return self.opt.window + self.opt.expand_every

    def install_signals(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            if self.stopping:
                self.hurry = True
            self.stopping = True
            self.pool.wake()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    # -- Redis guard ----------------------------------------------------------------------
    def safe(self, what: str, call: Callable[[], Any]) -> Any:
        """Run a Redis step; on a Redis error log once per outage and carry on.

        While an outage lasts, steps are skipped until a PING (at most one a second) answers, so
        one outage is one ERROR line and one "back" line. Redis answering but refusing writes
        (OOM under noeviction) is its own condition, also logged once: it ends with the first
        write that succeeds.
        """
        import redis.exceptions as rexc

        from queuectl.infra.connection import describe_redis_error
        from queuectl.domain.errors import RedisUnavailable

        if self.outage_since is not None:
            mono = self.clock.monotonic()
            if mono - self.last_probe_mono < 1.0:
                self.drop_lapsed_leases()
                return None
            self.last_probe_mono = mono
            try:
                self.app.client.ping()
            except rexc.RedisError:
                self.drop_lapsed_leases()
                return None
            log.warning("[DISPATCHER] Redis is back after %.1fs", self.clock.time() - self.outage_since)
            self.outage_since = None
            self.claim_now = True
            try:  # a renewal may have been missed: renew before the local leases are checked
                self.renew()
            except rexc.RedisError as exc:
                self.drop_lapsed_leases()
                return self._redis_failed("renew", exc)
        self.drop_lapsed_leases()
        if self.oom_since is not None and not self.writes_again():
            return None
        try:
            result = call()
        except rexc.ResponseError as exc:
            # Redis 7 raises OutOfMemoryError; 6.2 wraps OOM in a script error
            if not isinstance(exc, rexc.OutOfMemoryError) and "OOM command not allowed" not in str(exc):
                return self._redis_failed(what, exc)
            if self.oom_since is None:
                self.oom_since = self.clock.time()
                log.error("[DISPATCHER] Redis is out of memory and refuses writes (%s): %s; claims are paused and "
                          "outcomes kept until it has room", what, str(exc).splitlines()[0])
            return None
        except (rexc.RedisError, RedisUnavailable) as exc:
            return self._redis_failed(what, exc)
        except Exception:  # noqa: BLE001 - a bug or bad data in one step must not end the loop
            mono = self.clock.monotonic()
            if mono - self.last_crash_log.get(what, -1e9) > 60:
                self.last_crash_log[what] = mono
                log.exception("[DISPATCHER] unexpected error during %s (the dispatcher goes on)", what)
            return None
        return result

    def _redis_failed(self, what: str, exc: BaseException) -> None:
        from queuectl.infra.connection import describe_redis_error
        from queuectl.domain.errors import RedisUnavailable

        if self.outage_since is None:
            self.outage_since = self.clock.time()
            self.last_probe_mono = self.clock.monotonic()
            message = str(exc) if isinstance(exc, RedisUnavailable) else describe_redis_error(exc, self.app.url)
            log.error("[DISPATCHER] Redis unavailable (%s): %s; retrying every second", what, message)
        return None

    def writes_again(self) -> bool:
        """During an OOM, try one write (at most once a second); True once Redis accepts it."""
        import redis.exceptions as rexc

        mono = self.clock.monotonic()
        if mono - self.last_probe_mono < 1.0:
            return False
        self.last_probe_mono = mono
        try:
            pipe = self.app.client.pipeline(transaction=True)
            pipe.set(keys.WRITE_PROBE, "1")
            pipe.delete(keys.WRITE_PROBE)
            pipe.execute()
        except rexc.RedisError:
            return False
        log.warning("[DISPATCHER] Redis accepts writes again after %.1fs", self.clock.time() - (self.oom_since or 0))
        self.oom_since = None
        self.renew_now = True
        self.claim_now = True
        return True

    # -- start-up -------------------------------------------------------------------------
    def startup(self) -> None:
        self.app.guarded(self.app.client.ping)  # fail fast, with one line, before anything else
        if not Path(self.opt.helpers_dir).is_dir():
            from queuectl.domain.errors import InvalidInput

            raise InvalidInput(f"helpers directory not found: {self.opt.helpers_dir} "
                               "(set --helpers-dir or QUEUECTL_HELPERS_DIR)")
        log.info("[STARTUP] queuectl %s dispatcher %s starting: Redis %s, helpers %s", __version__, self.id,
                 self.app.safe_url, self.opt.helpers_dir)
        from queuectl.infra.redischeck import check

        for warning in self.app.guarded(lambda: check(self.app.client))["warnings"]:
            log.warning("[STARTUP] %s", warning)
        found = self.rescan(force=True, plan=False)
        if found is None:
            raise HelperLoadError("no helpers could be registered")
        now = self.clock.time()
        pruned = self.app.guarded(lambda: prune_history(self.app.scripts, now=now, history_ttl=self.opt.history_ttl))
        if pruned:
            log.info("[STARTUP] pruned %d history entries older than %gs", pruned, self.opt.history_ttl)
        report = self.app.guarded(lambda: control.plan_all(self.app, window=self.horizon))
        log.info("[QUEUE] planned %d new executions for the next %s (%d already queued, %d helpers)",
                 report.created, _span(self.opt.window), report.existing, report.helpers)
        self.pool.start()
        self.app.guarded(self.heartbeat)
        self.refresh_records(force=True)
        self.epoch = self.app.guarded(lambda: control.ensure_epoch(self.app))
        import gc

        gc.collect()
        gc.freeze()  # start-up's objects live on: keep them out of later collections' scans
        log.info("[STARTUP] dispatcher ready: concurrency %d, tick %gs, lease %gs, expanding every %gs",
                 self.opt.concurrency, self.opt.tick, self.opt.lease, self.opt.expand_every)

    def rescan(self, *, force: bool = False, plan: bool = True) -> DiscoveryResult | None:
        """Discover helper files and register them when the directory changed."""
        fingerprint = _dir_fingerprint(self.opt.helpers_dir)
        if not force and fingerprint == self.fingerprint:
            return None
        self.last_rescan_mono = self.clock.monotonic()
        try:
            found = discover(self.opt.helpers_dir)
        except HelperLoadError as exc:
            if force and self.fingerprint is None:
                raise
            log.error("[STARTUP] helpers not reloaded: %s", exc)
            self.fingerprint = fingerprint
            return None
        self.fingerprint = fingerprint
        for error in found.errors:
            log.error("[STARTUP] cannot load %s: %s", os.path.basename(error.source) or error.source, error.reason)
        self.sources = {spec.name: spec.source for spec in found.helpers}
        self.foreign -= set(self.sources)
        self.pool.preload(sorted(set(self.sources.values())))
        report = self.app.guarded(lambda: control.register(self.app, found, self.opt.helpers_dir, plan=plan))
        log.info("[STARTUP] %d helpers found (%d new, %d changed, %d unchanged, %d with operator overrides)",
                 len(found.helpers), len(report.registered), len(report.updated), len(report.unchanged),
                 len(report.overrides))
        for name, problem in report.broken:
            log.error("[STARTUP] helper %s is broken: %s", name, problem)
        for name in report.missing:
            log.warning("[STARTUP] helper %s is missing from %s; its queued executions were removed",
                        name, self.opt.helpers_dir)
        if plan and report.plan.created:
            log.info("[QUEUE] planned %d new executions after the helpers changed", report.plan.created)
        return found

    def refresh_records(self, force: bool = False) -> None:
        """Reload the catalog when another process changed it (and rescan our directory then, so
        a helper file synced from another shell is known, and preloaded, before it falls due)."""
        version = self.app.client.get(keys.CATALOG_VERSION)
        if force or version != self.catalog_version:
            self.records = catalog.read_all(self.app.client)
            self.catalog_version = version
            expiries = []
            for record in self.records.values():
                if record.plannable:
                    config = self.app.config_cache.get(record)
                    if config is not None:
                        expiries.append(config.expiry)
            self.min_expiry = float(min(expiries)) if expiries else 0.0
            if not force:
                self.rescan(plan=False)

    # -- periodic work --------------------------------------------------------------------
    def heartbeat(self) -> None:
        now = self.clock.time()
        ttl = max(5.0, 3 * self.opt.tick)
        pipe = self.app.client.pipeline(transaction=True)
        key = keys.dispatcher_key(self.id)
        pipe.hset(key, mapping={
            "id": self.id, "host": self.host, "pid": os.getpid(), "version": __version__,
            "startedAt": format_time(self.started_at), "beat": format_time(now),
            "running": len(self.running), "concurrency": self.opt.concurrency,
        })
        pipe.expire(key, int(ttl) + 1)
        pipe.zadd(keys.DISPATCHERS, {self.id: now + ttl})
        pipe.zremrangebyscore(keys.DISPATCHERS, "-inf", now - 86400)
        pipe.execute()

    def deregister(self) -> None:
        pipe = self.app.client.pipeline(transaction=True)
        pipe.zrem(keys.DISPATCHERS, self.id)
        pipe.delete(keys.dispatcher_key(self.id))
        pipe.execute()

    def expand(self) -> None:
        self.rescan(plan=False)
        now = self.clock.time()
        pruned = prune_history(self.app.scripts, now=now, history_ttl=self.opt.history_ttl)
        if pruned:
            log.info("[QUEUE] pruned %d history entries older than %gs", pruned, self.opt.history_ttl)
        report = control.plan_all(self.app, window=self.horizon)
        if report.created:
            log.info("[QUEUE] window extended to the next %s: %d new executions", _span(self.opt.window), report.created)
        else:
            log.debug("[QUEUE] window checked: nothing new to plan")
        self.claim_now = True

    def reap(self) -> None:
        now = self.clock.time()
        while True:
            reaped, dropped, requeued = self.app.scripts.reap(now=format_time(now), keep=self.keep)
            for execution_id in reaped:
                log.warning("[DISPATCHER] %s abandoned: its dispatcher stopped renewing the lease", execution_id)
            for execution_id in requeued:
                log.warning("[DISPATCHER] %s abandoned by its dispatcher; queued again (retry_on_abandon)",
                            execution_id)
            if len(reaped) + dropped + len(requeued) < 200:
                break

    def sweep(self) -> None:
        """Expire queued executions past their deadline, in bounded slices."""
        current = self.clock.time()
        now = format_time(current)
        # nothing due later than now - (smallest expiry of any helper) can be past its deadline
        upto = current - self.min_expiry
        offset, total = 0, 0
        for _ in range(SWEEP_CALLS):
            expired, looked, kept, anomalies = self.app.scripts.expire(now=now, keep=self.keep, offset=offset,
                                                                       limit=SCAN, upto=upto)
            total += expired
            self.log_anomalies(anomalies)
            offset += kept
            if looked < SCAN:
                break
        if total:
            log.warning("[QUEUE] %d executions expired before they could start", total)

    def renew(self) -> bool:
        owned = [(job.execution_id, job.token) for job in self.running.values()]
        if not owned:
            return True
        mono = self.clock.monotonic()
        lease_until = format_time(self.clock.time() + self.opt.lease)
        lost = self.app.scripts.renew(lease_until=lease_until, owned=owned)
        for execution_id, _token in owned:
            job = self.running.get(execution_id)
            if job is not None:
                job.lease_mono = mono + self.local_lease
        for execution_id in lost:
            job = self.pool.cancel(execution_id)
            self.running.pop(execution_id, None)
            log.error("[DISPATCHER] lease lost for %s (another dispatcher finalised it); its helper was stopped%s",
                      execution_id, "" if job else " (it had already finished)")
        return True

    @property
    def local_lease(self) -> float:
        """How long a helper may run on a claim or renewal that was not renewed since: shorter
        than the lease by one Redis call's worst case (lease/3), so the helper is stopped before
        any peer can see the lease lapse and act on it."""
        return self.opt.lease * 2 / 3 - 0.05

    def drop_lapsed_leases(self) -> None:
        """A helper whose lease could not be renewed in time (Redis unreachable) is stopped: a
        peer may already have finalised, or re-queued, its execution."""
        mono = self.clock.monotonic()
        for execution_id, job in list(self.running.items()):
            if job.lease_mono <= mono:
                self.pool.cancel(execution_id)
                self.running.pop(execution_id, None)
                log.error("[DISPATCHER] lease of %s could not be renewed in time; its helper was stopped and "
                          "its outcome is left to the reaper", execution_id)

    def check_master(self) -> None:
        """With Sentinel: drop connections to a server that is no longer the master, so writes
        stop going to a demoted master within a tick of a failover."""
        from queuectl.infra.connection import ensure_current_master

        if not getattr(self.app.client, "queuectl_sentinel", None):
            return
        if ensure_current_master(self.app.client):
            log.warning("[DISPATCHER] Sentinel names a new master; reconnected")
            self.claim_now = True
        # Claims must reach a replica while this master has (recently) had one: a master that has
        # just lost its replica to a promotion keeps accepting writes that the new master never
        # sees. A master that never had a replica (a freshly promoted one) claims freely.
        master = tuple(getattr(self.app.client, "queuectl_master", None) or ())
        connected = int(self.app.client.info("replication").get("connected_slaves", 0))
        mono = self.clock.monotonic()
        if connected > 0:
            self.replica_seen[master] = mono
        seen = self.replica_seen.get(master)
        recently = seen is not None and mono - seen < REPLICA_MEMORY
        from queuectl.infra.connection import sentinel_replicas

        # a replica that merely died is marked down by Sentinel and stops counting; one that is
        # being promoted still looks healthy to Sentinel for a moment, and we keep waiting for acks
        self.replicas = 1 if connected > 0 or (recently and sentinel_replicas(self.app.client) > 0) else 0

    def check_epoch(self) -> None:
        """Notice that Redis lost its data (restart without persistence, FLUSHALL) and rebuild."""
        current = self.app.client.get(keys.EPOCH)
        if self.epoch is None or current == self.epoch:
            return
        lost = sorted(name for name, record in self.records.items() if record.overridden)
        log.error("[DISPATCHER] Redis data reset detected (the epoch marker %s): re-seeding the catalog "
                  "from %s and rebuilding the window", "changed" if current else "is gone", self.opt.helpers_dir)
        if lost:
            log.error("[DISPATCHER] operator overrides were LOST and must be re-applied: %s", ", ".join(lost))
        self.fingerprint = None
        self.rescan(force=True, plan=True)
        self.epoch = control.ensure_epoch(self.app)
        self.refresh_records(force=True)
        self.claim_now = True

    def log_anomalies(self, anomalies: list[tuple[str, str]]) -> None:
        for execution_id, why in anomalies:
            log.error("[QUEUE] removed unusable queue entry %r (%s)", execution_id, why)

    # -- claiming and running ------------------------------------------------------------------
    def source_of(self, helper: str) -> str | None:
        if helper not in self.sources and self.clock.monotonic() - self.last_rescan_mono > self.opt.tick:
            self.rescan(force=True, plan=False)
        return self.sources.get(helper)

    def claim(self) -> None:
        """Write pending outcomes and claim up to the free slots, in as few round trips as possible."""
        first = True
        while self.pool.free > 0 and not self.stopping:
            now = self.clock.time()
            self.token_counter += 1
            # look at a few more due executions than there are slots (priority among them, and
            # room to skip helpers that are still running), not at the whole backlog
            scan = min(SCAN, self.pool.free * 4 + 16)
            request = dict(now=format_time(now), limit=self.pool.free, owner=self.id,
                           lease_until=format_time(now + self.opt.lease),
                           token_prefix=f"{self.id}:{self.token_counter}", scan=scan, keep=self.keep,
                           upto=format_time(now + 2 * LEAD), skip=sorted(self.foreign))
            started_mono = self.clock.monotonic()
            if first and self.pending:
                batch, self.pending = self.pending, []
                try:
                    written, result = self.app.scripts.finish_and_claim(
                        now=format_time(now), keep=self.keep, outcomes=batch, claim=request)
                except Exception:
                    self.pending = batch + self.pending
                    raise
                if isinstance(written, Exception):
                    self.pending = batch + self.pending  # not written: keep them
                else:
                    self.report_written(batch, written)
                if isinstance(result, Exception):
                    raise result
                if isinstance(written, Exception):
                    raise written
            else:
                result = self.app.scripts.claim(**request)
            first = False
            assert result is not None
            head = result.head_score
            self.next_due = float(int(head) // 10) if head is not None and math.isfinite(head) else None
            if result.expired:
                log.warning("[QUEUE] %d executions expired before they could start", result.expired)
            self.log_anomalies(result.anomalies)
            if result.claimed and self.replicas > 0 and not self.replicated():
                # a claim only the master knows may be lost in a failover and claimed again there:
                # hand the claims back and try again next tick
                for claimed in result.claimed:
                    self.app.scripts.release(claimed.execution_id, claimed.token)
                log.warning("[DISPATCHER] %d claims were not acknowledged by a replica; handed back, retrying "
                            "next tick", len(result.claimed))
                self.claim_paused_until = self.clock.monotonic() + self.opt.tick
                break
            jobs = [job for job in (self.start(claimed, now, started_mono) for claimed in result.claimed) if job]
            self.pool.submit_many(jobs)
            self.quiet_until = max([self.quiet_until] + [job.at + QUIET for job in jobs])
            if not result.claimed or result.looked < scan:
                break
        self.claim_now = False

    def replicated(self) -> bool:
        """Wait (briefly) until a replica has the claim just made; with Sentinel a claim that
        only the old master knew could otherwise be claimed, and run, a second time."""
        timeout_ms = int(max(50, min(1000, self.opt.lease * 1000 / 6)))
        return int(self.app.client.wait(1, timeout_ms)) >= 1

    def start(self, claimed: Any, now: float, claim_mono: float) -> Job | None:
        """The job for one claim (None: not ours to run, handed back)."""
        record = self.records.get(claimed.helper)
        timeout = None
        if record is not None and record.schedule:
            timeout = record.schedule.get("timeout")
        job = Job(execution_id=claimed.execution_id, helper=claimed.helper, source="",
                  execution_time=claimed.execution_time, attempt=claimed.attempt, token=claimed.token,
                  timeout=float(timeout) if timeout else None, extra={"expiry": claimed.expiry},
                  at=float(claimed.due) if claimed.due > now else 0.0, lease_mono=claim_mono + self.local_lease)
        source = self.source_of(claimed.helper)
        if source is None:
            # registered by someone else, not in our directory: leave it to a dispatcher that has it
            self.foreign.add(claimed.helper)
            self.app.scripts.release(claimed.execution_id, claimed.token)
            log.warning("[DISPATCHER] helper %s is registered but not in %s; leaving its executions to other "
                        "dispatchers", claimed.helper, self.opt.helpers_dir)
            return None
        self.running[job.execution_id] = job
        job.source = source
        if self.chatty("started"):
            log.info("[DISPATCHER] started %s (priority %d, attempt %d)", job.execution_id, claimed.priority,
                     job.attempt)
        return job

    def chatty(self, event: str) -> bool:
        """Log each start and success while they are few; past LOG_EACH a second, summarise."""
        second = int(self.clock.monotonic())
        if second != self.log_second:
            quiet = {k: n - LOG_EACH for k, n in self.log_counts.items() if n > LOG_EACH}
            if quiet:
                log.info("[DISPATCHER] %s more executions in the last second (not logged one by one)",
                         ", ".join(f"{n} {k}" for k, n in quiet.items()))
            self.log_second = second
            self.log_counts = {k: 0 for k in self.log_counts}
        self.log_counts[event] += 1
        return self.log_counts[event] <= LOG_EACH

    def record(self, result: Result) -> None:
        job = result.job
        if self.running.pop(job.execution_id, None) is None:
            return  # lease lost and already dropped
        if result.handed_back:
            self.handed_back.append(job)
            return
        status = "success" if result.ok else "error"
        retry_at = None
        if result.ok:
            self.successes += 1
            if self.chatty("succeeded"):
                log.info("[DISPATCHER] %s succeeded%s", job.execution_id, _timing(job, result))
        else:
            retry_at = self.retry_time(job, result)
            if retry_at is None:
                self.failures += 1
                log.error("[DISPATCHER] %s failed: %s", job.execution_id, result.error)
            else:
                log.warning("[DISPATCHER] %s attempt %d failed: %s; retrying in %.1fs", job.execution_id,
                            job.attempt, result.error, retry_at - self.clock.time())
        self.pending.append(Outcome(execution_id=job.execution_id, token=job.token, status=status,
                                    error=result.error, reason=result.reason, retry_at=retry_at,
                                    started=result.started))
        self.claim_now = True

    def retry_time(self, job: Job, result: Result) -> float | None:
        """When to try a failed execution again: exponential backoff with jitter, only while its
        expiry has not passed, never after a shutdown."""
        if result.reason == "shutdown" or self.stopping:
            return None
        record = self.records.get(job.helper)
        schedule = record.schedule if record and record.schedule else {}
        retries = int(schedule.get("retries") or 0)
        if job.attempt > retries:
            return None
        base = float(schedule.get("retry_backoff", 10.0))
        delay = min(RETRY_CAP, base * 2 ** (job.attempt - 1)) * random.uniform(0.5, 1.0)
        when = self.clock.time() + delay
        deadline = job.execution_time + int(job.extra.get("expiry", 0))
        return when if when <= deadline else None

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        try:
            written = self.app.scripts.finish(now=format_time(self.clock.time()), keep=self.keep, outcomes=batch)
        except Exception:
            self.pending = batch + self.pending
            raise
        self.report_written(batch, written)

    def report_written(self, batch: list[Outcome], written: list[int]) -> None:
        for outcome, code in zip(batch, written):
            if code == 0:
                log.warning("[DISPATCHER] outcome of %s not recorded: it is no longer ours "
                            "(lease lost; another dispatcher finalised it)", outcome.execution_id)
            elif code < 0:
                log.error("[DISPATCHER] outcome of %s not recorded: its hash is unreadable", outcome.execution_id)
            elif code == 2:
                self.claim_now = True

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> int:
        """Start up and loop until stopped; returns the process exit code."""
        self.install_signals()
        try:
            self.startup()
        except BaseException:
            self.pool.close()
            raise
        try:
            self.loop()
        finally:
            self.shutdown()
        if self.opt.once:
            return 1 if self.failures else 0
        return 0

    def loop(self) -> None:
        mono = self.clock.monotonic()
        next_tick = mono
        next_renew = self.off_beat(mono + self.opt.lease / 3)
        next_expand = self.off_beat(mono + self.opt.expand_every)
        wait = 0.0
        while True:
            quiet = self.quiet_until - self.clock.time()
            if wait > 0 and quiet > 0 and self.pool.jobs:
                time.sleep(min(wait, quiet))  # the workers start a coming instant's executions
                wait = 0.0
            elif wait > 0 and self.pool.activity and self.pool.jobs:
                time.sleep(min(wait, COALESCE))  # let outcomes gather while workers are busy
                wait = 0.0
            for result in self.pool.poll(wait):
                self.record(result)
            if self.stopping or self.pool.free == 0:
                self.safe("finish", self.flush)  # otherwise the claim below carries them
            mono = self.clock.monotonic()
            if self.stopping:
                if self.stop_mono is None:
                    self.stop_mono = mono
                    self.take_back_unstarted()
                    log.info("[DISPATCHER] stopping: no new claims; waiting up to %gs for %d running executions",
                             self.opt.grace, len(self.running))
                if not self.running:
                    break
                if self.hurry or mono >= self.stop_mono + self.opt.grace:
                    self.abort_running("shutdown", "shutdown: the dispatcher stopped before the helper finished")
                    break
            if mono >= next_renew or self.renew_now:
                self.renew_now = False
                if self.safe("renew", self.renew):
                    next_renew = self.off_beat(mono + self.opt.lease / 3)
                else:
                    next_renew = mono + min(0.2, self.opt.lease / 10)  # missed: try again soon
            self.drop_lapsed_leases()
            if mono >= next_tick:
                self.safe("reap", self.reap)
                self.safe("expire", self.sweep)
                self.safe("heartbeat", self.heartbeat)
                self.safe("epoch", self.check_epoch)
                self.safe("master", self.check_master)
                self.safe("catalog", self.refresh_records)
                next_tick = self.off_beat(mono + self.opt.tick)
                self.claim_now = True
            if mono >= next_expand and not self.stopping and not self.opt.once:
                self.safe("expand", self.expand)
                next_expand = self.off_beat(mono + self.opt.expand_every)
            now = self.clock.time()
            due = self.next_due is not None and self.next_due - LEAD <= now
            paused = mono < self.claim_paused_until
            if not self.stopping and not paused and self.pool.free > 0 and (self.claim_now or due or self.pending):
                self.safe("claim", self.claim)
            if self.pending and self.outage_since is None:
                self.safe("finish", self.flush)
            if self.handed_back and self.outage_since is None:
                self.safe("release", self.release_handed_back)
            if self.opt.once and not self.running and not self.stopping:
                if not self.pending:
                    break
            # how long to sleep: until the earliest thing that needs us
            mono = self.clock.monotonic()
            targets = [next_tick, next_renew]
            if not self.opt.once:
                targets.append(next_expand)
            if self.stop_mono is not None:
                targets.append(self.stop_mono + self.opt.grace)
            now = self.clock.time()
            if self.pool.free > 0 and self.next_due is not None and self.next_due - LEAD > now:
                targets.append(mono + (self.next_due - LEAD - now))
            if self.outage_since is not None:
                targets = [mono + min(self.opt.tick, 1.0)]
            wait = max(0.0, min(targets) - mono)

    def off_beat(self, mono: float) -> float:
        """Move periodic work (period >= 1 s) to the next half second: executions are due on whole
        seconds, and the Redis round trips of a tick should not compete with their start."""
        ahead = mono - self.clock.monotonic()
        if ahead < 1.0:
            return mono
        fraction = (self.clock.time() + ahead) % 1.0
        return mono + (0.5 - fraction) % 1.0

    def take_back_unstarted(self) -> None:
        """Jobs no worker has picked up yet go back to the queue, untouched (on shutdown)."""
        for job in self.pool.drain():
            if self.running.pop(job.execution_id, None) is not None:
                self.handed_back.append(job)
        self.safe("release", self.release_handed_back)

    def release_handed_back(self) -> None:
        while self.handed_back:
            job = self.handed_back[-1]
            self.app.scripts.release(job.execution_id, job.token)
            self.handed_back.pop()
        self.claim_now = True

    def abort_running(self, reason: str, error: str) -> None:
        for job in self.pool.kill_all():
            self.record(Result(job=job, ok=False, reason=reason, error=error))
        for job in list(self.running.values()):
            self.record(Result(job=job, ok=False, reason=reason, error=error))

    def shutdown(self) -> None:
        self.take_back_unstarted()
        if self.running:
            self.abort_running("shutdown", "shutdown: the dispatcher stopped before the helper finished")
        for _ in range(3):
            if not self.pending:
                break
            self.safe("finish", self.flush)
        if self.pending:
            log.error("[DISPATCHER] %d outcomes could not be written; their leases will lapse and the reaper "
                      "will record them as abandoned", len(self.pending))
        self.safe("deregister", self.deregister)
        self.pool.close()
        log.info("[DISPATCHER] stopped (%d succeeded, %d failed)", self.successes, self.failures)


def _timing(job: Job, result: Result) -> str:
    """' (started 0.4 ms after its time, ran 12 ms)' from the worker's own clock readings."""
    if result.started is None or result.finished is None:
        return ""
    late = max(0.0, result.started - max(job.at, job.execution_time)) * 1000
    return f" (started {late:.1f} ms after its time, ran {(result.finished - result.started) * 1000:.0f} ms)"


def _span(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
