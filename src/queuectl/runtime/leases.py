"""The executions this dispatcher has claimed and not yet finished, and their leases.

A claim lives `lease` seconds in Redis unless renewed; the dispatcher renews all of its claims
every lease/3 (renew.lua, fenced by each claim's token). Locally, each claim also has a deadline:
its helper is stopped once the claim has gone unrenewed for the lease's unrenewed budget
(domain/lease.py), before any peer can see the lease lapse and act on it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from queuectl.domain.clock import Clock
from queuectl.domain.lease import unrenewed_budget
from queuectl.domain.models import format_time
from queuectl.runtime.pool import WorkerPool
from queuectl.runtime.worker_process import Job

if TYPE_CHECKING:
    from queuectl.store.scripts import Scripts

log = logging.getLogger(__name__)

#: Taken off the unrenewed budget for the dispatcher's own reaction time (seconds).
MARGIN = 0.05


class LeaseKeeper:
    def __init__(self, scripts: Scripts, pool: WorkerPool, clock: Clock, lease: float) -> None:
        self.scripts = scripts
        self.pool = pool
        self.clock = clock
        self.lease = lease
        self.running: dict[str, Job] = {}  # execution id -> its job, from the claim to the outcome

    @property
    def local_lease(self) -> float:
        """How long a helper may run on a claim (or renewal) that was not renewed since."""
        return unrenewed_budget(self.lease) - MARGIN

    def lease_until(self, now: float) -> str:
        """The lease of a claim made or renewed at `now`, as stored."""
        return format_time(now + self.lease)

    def hold(self, job: Job, claim_mono: float) -> None:
        """Keep a job claimed at monotonic `claim_mono` until its outcome."""
        job.lease_mono = claim_mono + self.local_lease
        self.running[job.execution_id] = job

    def release(self, execution_id: str) -> Job | None:
        """Forget an execution (its outcome arrived, or it went back to the queue)."""
        return self.running.pop(execution_id, None)

    def renew(self) -> bool:
        """Extend every lease we hold; stop the helpers of the ones another dispatcher took."""
        owned = [(job.execution_id, job.token) for job in self.running.values()]
        if not owned:
            return True
        mono = self.clock.monotonic()
        lost = self.scripts.renew(lease_until=self.lease_until(self.clock.time()), owned=owned)
        for execution_id, _token in owned:
            job = self.running.get(execution_id)
            if job is not None:
                job.lease_mono = mono + self.local_lease
        for execution_id in lost:
            job = self.pool.cancel(execution_id)
            self.running.pop(execution_id, None)
            log.error(
                "[DISPATCHER] lease lost for %s (another dispatcher finalised it); its helper was stopped%s",
                execution_id,
                "" if job else " (it had already finished)",
                extra={"event": "lease_lost", "execution_id": execution_id},
            )
        return True

    def drop_lapsed(self) -> None:
        """Stop the helpers whose claims could not be renewed in time (Redis unreachable): a peer
        may already have finalised, or re-queued, their executions."""
        mono = self.clock.monotonic()
        for execution_id, job in list(self.running.items()):
            if job.lease_mono <= mono:
                self.pool.cancel(execution_id)
                self.running.pop(execution_id, None)
                log.error(
                    "[DISPATCHER] lease of %s could not be renewed in time; its helper was stopped and "
                    "its outcome is left to the reaper",
                    execution_id,
                    extra={"event": "lease_not_renewed", "execution_id": execution_id},
                )
