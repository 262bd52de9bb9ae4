"""The long-running dispatcher behind `queuectl run`: the loop, the claim, and the record.

One thread, one loop: wait for the earliest of (a worker outcome, the next due execution, the
next tick, a lease renewal, the next window expansion, a helper timeout), then do what is due.
It wakes for the earliest due execution rather than polling blindly, and still checks every
`tick` seconds for changes made by other processes. Its parts have modules of their own: the
Redis guard (outages never end the loop), the helper registry, the leases, the Sentinel watch,
the housekeeping, the loop timing and the log throttle.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

from queuectl.domain.models import format_time
from queuectl.domain.retry import retry_at
from queuectl.domain.score import score_time
from queuectl.infra import logs
from queuectl.runtime.cancels import CANCELLED, CancelWatch
from queuectl.runtime.housekeeping import Housekeeping, log_anomalies
from queuectl.runtime.leases import LeaseKeeper
from queuectl.runtime.log_throttle import LogThrottle, outcome_fields, timing_text
from queuectl.runtime.loop_timing import LoopTiming
from queuectl.runtime.master_watch import MasterWatch
from queuectl.runtime.outcomes import PendingOutcomes
from queuectl.runtime.pool import WorkerPool
from queuectl.runtime.redis_guard import RedisGuard
from queuectl.runtime.registry import HelperRegistry
from queuectl.runtime.worker_process import Job, Result
from queuectl.store import dispatchers
from queuectl.store.scripts import SCAN_MAX, Claimed, ClaimRequest

if TYPE_CHECKING:
    from queuectl.infra.app import App

log = logging.getLogger(__name__)

#: Seconds ahead of its time an execution is claimed and handed to a worker, which waits for the
#: exact instant: the claim's round trip and the hand-over are then not part of the lateness.
LEAD = 0.05
#: While workers are busy, outcomes are collected at most this often (seconds): each wake-up of
#: the dispatcher takes CPU from the workers, and a few ms of delay in writing outcomes is free.
COALESCE = 0.002
#: After handing over executions for a coming instant, the dispatcher sleeps until that instant
#: plus this (seconds) instead of waking for each worker's start line.
QUIET = 0.005
SHUTDOWN_ERROR = "shutdown: the dispatcher stopped before the helper finished"


def new_dispatcher_id() -> str:
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


class Dispatcher:
    def __init__(
        self, app: App, *, once: bool = False, dispatcher_id: str | None = None, pool_env: dict[str, str] | None = None
    ) -> None:
        self.app = app
        self.settings = s = app.settings
        self.once = once
        self.id = dispatcher_id or new_dispatcher_id()
        logs.bind(dispatcher=self.id)  # every JSON log line of this process names it
        self.clock = app.clock
        self.pool = WorkerPool.for_settings(s, dispatcher_id=self.id, monotonic=self.clock.monotonic, env=pool_env)
        self.leases = LeaseKeeper(app.scripts, self.pool, self.clock, s.lease)
        self.registry = HelperRegistry(app, preload=self.pool.preload)
        self.upkeep = Housekeeping(app, self.registry, dispatcher_id=self.id)
        self.master = MasterWatch(app.client, self.clock, s.lease)
        self.guard = RedisGuard(app, before_step=self.leases.drop_lapsed, on_back=self.back, on_writable=self.writable)
        self.throttle = LogThrottle(self.clock.monotonic)
        self.pending = PendingOutcomes(app.scripts, self.clock, self.upkeep.keep)
        self.cancels = CancelWatch(app, self.pool, self.leases, self.id, self.record)
        self.quiet_until = 0.0  # wall time: see QUIET
        self.next_due: float | None = None  # wall time of the queue head
        self.claim_now = True
        self.renew_now = False
        self.stopping = self.hurry = False
        self.stop_mono: float | None = None
        self.token_counter = self.failures = self.successes = 0
        self.claim_paused_until = -1e9

    def back(self) -> None:
        """Redis answers again: renew first (a renewal may have been missed), then claim."""
        self.claim_now = True
        self.leases.renew()

    def writable(self) -> None:
        """Redis accepts writes again: renew and claim at once."""
        self.renew_now = self.claim_now = True

    def install_signals(self) -> None:
        def handler(signum: int, _frame: Any) -> None:
            if self.stopping:
                self.hurry = True
            self.stopping = True
            self.pool.wake()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    # -- start-up ---------------------------------------------------------------------------
    def startup(self) -> None:
        """Prepare the data (registry, window), start the workers, say we are alive."""
        s = self.settings
        self.upkeep.start_up()
        self.pool.start()
        self.app.guarded(self.heartbeat)
        import gc

        gc.collect()
        gc.freeze()  # start-up's objects live on: keep them out of later collections' scans
        log.info(
            "[STARTUP] dispatcher ready: concurrency %d, tick %gs, lease %gs, expanding every %gs",
            s.concurrency,
            s.tick,
            s.lease,
            s.expand_every,
            extra={"event": "dispatcher_ready", "concurrency": s.concurrency},
        )

    def heartbeat(self) -> None:
        self.upkeep.heartbeat(running=len(self.leases.running))

    # -- the loop ---------------------------------------------------------------------------
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
        return 1 if self.once and self.failures else 0

    def loop(self) -> None:
        timing = LoopTiming(
            self.clock, tick=self.settings.tick, lease=self.settings.lease, expand_every=self.settings.expand_every
        )
        run = self.guard.run
        wait = 0.0
        while True:
            self.rest(wait)
            mono = self.clock.monotonic()
            if self.stopping and self.stop_step(mono):
                break
            if mono >= timing.next_renew or self.renew_now:
                self.renew_now = False
                timing.renew_done(mono, run("renew", self.leases.renew) is not None)
            self.leases.drop_lapsed()
            if mono >= timing.next_tick:
                for what, step in (
                    ("reap", self.upkeep.reap),
                    ("expire", self.upkeep.sweep),
                    ("heartbeat", self.heartbeat),
                    ("epoch", self.upkeep.data_lost),
                    ("master", self.master.check),
                    ("catalog", self.registry.refresh),
                    ("cancel", self.cancels.check),
                ):
                    run(what, step)
                timing.tick_done(mono)
                self.claim_now = True
            if mono >= timing.next_expand and not self.stopping and not self.once:
                run("expand", self.upkeep.expand)
                timing.expand_done(mono)
                self.claim_now = True
            now = self.clock.time()
            due = self.next_due is not None and self.next_due - LEAD <= now
            paused = mono < self.claim_paused_until
            if not self.stopping and not paused and self.pool.free > 0 and (self.claim_now or due or self.pending):
                run("claim", self.claim)
            if self.pending and not self.guard.away:
                run("finish", self.flush)
            if self.pending.handed_back and not self.guard.away:
                run("release", self.release_handed_back)
            if self.once and not self.leases.running and not self.stopping and not self.pending:
                break
            wait = self.wait_time(timing)

    def rest(self, wait: float) -> None:
        """Sleep up to `wait` seconds, collecting and recording the workers' outcomes."""
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
            self.guard.run("finish", self.flush)  # otherwise the next claim carries them

    def stop_step(self, mono: float) -> bool:
        """While stopping: True once the loop may end (nothing runs, or the grace is over)."""
        if self.stop_mono is None:
            self.stop_mono = mono
            self.take_back_unstarted()
            log.info(
                "[DISPATCHER] stopping: no new claims; waiting up to %gs for %d running executions",
                self.settings.grace,
                len(self.leases.running),
                extra={"event": "dispatcher_stopping", "running": len(self.leases.running)},
            )
        if not self.leases.running:
            return True
        if self.hurry or mono >= self.stop_mono + self.settings.grace:
            self.abort_running("shutdown", SHUTDOWN_ERROR)
            return True
        return False

    def wait_time(self, timing: LoopTiming) -> float:
        """How long to sleep: until the earliest thing that needs us."""
        grace_over = self.stop_mono + self.settings.grace if self.stop_mono is not None else None
        lead = self.next_due - LEAD - self.clock.time() if self.next_due is not None else 0.0
        due = self.clock.monotonic() + lead if self.pool.free > 0 and lead > 0 else None
        return timing.wait(expanding=not self.once, away=self.guard.away, others=[grace_over, due])

    # -- claiming ---------------------------------------------------------------------------
    def claim(self) -> None:
        """Write pending outcomes and claim up to the free slots, in as few round trips as possible."""
        first = True
        while self.pool.free > 0 and not self.stopping:
            now = self.clock.time()
            self.token_counter += 1
            # look at a few more due executions than there are slots (priority among them, and
            # room to skip helpers that are still running), not at the whole backlog
            scan = min(SCAN_MAX, self.pool.free * 4 + 16)
            request = ClaimRequest(
                now=format_time(now),
                limit=self.pool.free,
                owner=self.id,
                lease_until=self.leases.lease_until(now),
                token_prefix=f"{self.id}:{self.token_counter}",
                scan=scan,
                keep=self.upkeep.keep,
                upto=format_time(now + 2 * LEAD),
                skip=sorted(self.registry.foreign),
            )
            claim_mono = self.clock.monotonic()
            if first and self.pending:
                result, requeued = self.pending.flush_with_claim(now, request)
                self.claim_now |= requeued
            else:
                result = self.app.scripts.claim(request)
            first = False
            head = score_time(result.head_score) if result.head_score is not None else None
            self.next_due = float(head) if head is not None else None
            if result.expired:
                log.warning(
                    "[QUEUE] %d executions expired before they could start",
                    result.expired,
                    extra={"event": "executions_expired", "count": result.expired},
                )
            log_anomalies(result.anomalies)
            if not self.master.confirm(result.claimed, self.app.scripts.release):
                self.claim_paused_until = self.clock.monotonic() + self.settings.tick  # try again next tick
                break
            jobs = [job for job in (self.start(claimed, now, claim_mono) for claimed in result.claimed) if job]
            self.pool.submit_many(jobs)
            self.quiet_until = max([self.quiet_until] + [job.at + QUIET for job in jobs])
            if not result.claimed or result.looked < scan:
                break
        self.claim_now = False

    def start(self, claimed: Claimed, now: float, claim_mono: float) -> Job | None:
        """The job for one claim (None: not ours to run, handed back)."""
        source = self.registry.source_of(claimed.helper)
        if source is None:
            # registered by someone else, not in our directory: leave it to a dispatcher that has it
            self.registry.leave_to_others(claimed.helper)
            self.app.scripts.release(claimed.execution_id, claimed.token)
            return None
        record = self.registry.records.get(claimed.helper)
        timeout = record.schedule.timeout if record is not None and record.schedule else None
        job = Job.of_claim(claimed, source=source, timeout=timeout, now=now)
        self.leases.hold(job, claim_mono)
        if self.throttle.allow("started"):
            log.info(
                "[DISPATCHER] started %s (priority %d, attempt %d)",
                job.execution_id,
                claimed.priority,
                job.attempt,
                extra={
                    "event": "execution_started",
                    "execution_id": job.execution_id,
                    "helper": job.helper,
                    "priority": claimed.priority,
                    "attempt": job.attempt,
                },
            )
        return job

    # -- recording ---------------------------------------------------------------------------
    def record(self, result: Result) -> None:
        job = result.job
        if self.leases.release(job.execution_id) is None:
            return  # lease lost and already dropped
        if result.handed_back:
            self.pending.hand_back(job)
            return
        retry = None
        due = max(job.at, job.execution_time)
        if result.ok:
            self.successes += 1
            if self.throttle.allow("succeeded"):
                timing = timing_text(result.started, result.finished, due=due)
                fields = outcome_fields(job, result, due, "execution_succeeded")
                log.info("[DISPATCHER] %s succeeded%s", job.execution_id, timing, extra=fields)
        elif result.reason == CANCELLED:  # an operator's request (runtime/cancels.py): not a failure
            fields = outcome_fields(job, result, due, "execution_cancelled")
            log.warning("[DISPATCHER] %s cancelled: %s", job.execution_id, result.error, extra=fields)
        else:
            retry = self.retry_time(job, result)
            if retry is None:
                self.failures += 1
                fields = outcome_fields(job, result, due, "execution_failed")
                log.error("[DISPATCHER] %s failed: %s", job.execution_id, result.error, extra=fields)
            else:
                fields = outcome_fields(job, result, due, "execution_retry_planned")
                fields["retry_in_s"] = round(retry - self.clock.time(), 3)
                log.warning(
                    "[DISPATCHER] %s attempt %d failed: %s; retrying in %.1fs",
                    job.execution_id,
                    job.attempt,
                    result.error,
                    retry - self.clock.time(),
                    extra=fields,
                )
        self.pending.add(job, result, retry)
        self.claim_now = True

    def retry_time(self, job: Job, result: Result) -> float | None:
        """When to try a failed execution again (domain/retry.py); never after a shutdown."""
        record = self.registry.records.get(job.helper)
        config = record.schedule if record is not None else None
        if result.reason in ("shutdown", CANCELLED) or self.stopping or config is None:
            return None
        return retry_at(
            config,
            attempt=job.attempt,
            failed_at=self.clock.time(),
            execution_time=job.execution_time,
            expiry=job.expiry,
            jitter=random.uniform(0.5, 1.0),
        )

    def flush(self) -> None:
        if self.pending.flush():
            self.claim_now = True  # a retry went back to the queue

    # -- stopping ------------------------------------------------------------------------------
    def take_back_unstarted(self) -> None:
        """Jobs no worker has picked up yet go back to the queue, untouched (on shutdown)."""
        for job in self.pool.drain():
            if self.leases.release(job.execution_id) is not None:
                self.pending.hand_back(job)
        self.guard.run("release", self.release_handed_back)

    def release_handed_back(self) -> None:
        self.pending.release()
        self.claim_now = True

    def abort_running(self, reason: str, error: str) -> None:
        for job in self.pool.kill_all():
            self.record(Result(job=job, ok=False, reason=reason, error=error))
        for job in list(self.leases.running.values()):
            self.record(Result(job=job, ok=False, reason=reason, error=error))

    def shutdown(self) -> None:
        self.take_back_unstarted()
        if self.leases.running:
            self.abort_running("shutdown", SHUTDOWN_ERROR)
        for _ in range(3):
            if not self.pending:
                break
            self.guard.run("finish", self.flush)
        if self.pending:
            log.error(
                "[DISPATCHER] %d outcomes could not be written; their leases will lapse and the reaper "
                "will record them as abandoned",
                len(self.pending),
                extra={"event": "outcomes_not_written", "count": len(self.pending)},
            )
        self.guard.run("deregister", lambda: dispatchers.deregister(self.app.client, self.id))
        self.pool.close()
        log.info(
            "[DISPATCHER] stopped (%d succeeded, %d failed)",
            self.successes,
            self.failures,
            extra={"event": "dispatcher_stopped", "succeeded": self.successes, "failed": self.failures},
        )
