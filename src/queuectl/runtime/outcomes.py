"""What the dispatcher owes Redis: outcomes it recorded and claims it hands back.

Outcomes are written in batches by finish.lua, alone or in the same round trip as the next claim;
one that could not be written (Redis away, out of memory) is kept and written later. finish.lua
fences each one by its claim token, so an outcome of a claim another dispatcher finalised meanwhile
is refused, and said so. A claim no worker started goes back to the queue untouched (release.lua).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from queuectl.domain.clock import Clock
from queuectl.domain.models import format_time
from queuectl.runtime.cancels import CANCELLED
from queuectl.runtime.worker_process import Job, Result
from queuectl.store.scripts import ClaimRequest, ClaimResult, Outcome

if TYPE_CHECKING:
    from queuectl.store.scripts import Scripts

log = logging.getLogger("queuectl.runtime.dispatcher")


class PendingOutcomes:
    def __init__(self, scripts: Scripts, clock: Clock, keep: int) -> None:
        self.scripts = scripts
        self.clock = clock
        self.keep = keep  # seconds finished hashes are kept
        self.pending: list[Outcome] = []
        self.handed_back: list[Job] = []  # claims a worker never started: release them

    def __bool__(self) -> bool:
        return bool(self.pending)

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, job: Job, result: Result, retry_at: float | None) -> None:
        """The outcome of a job's run; an error with `retry_at` goes back to the queue then."""
        outcome = Outcome(
            execution_id=job.execution_id,
            token=job.token,
            status="success" if result.ok else (CANCELLED if result.reason == CANCELLED else "error"),
            error=result.error,
            reason=result.reason,
            retry_at=retry_at,
            started=result.started,
        )
        self.pending.append(outcome)

    def hand_back(self, job: Job) -> None:
        self.handed_back.append(job)

    def release(self) -> None:
        """Give the handed-back claims back to the queue (fenced by their tokens)."""
        while self.handed_back:
            job = self.handed_back[-1]
            self.scripts.release(job.execution_id, job.token)
            self.handed_back.pop()

    def flush(self) -> bool:
        """Write what is pending; True when one went back to the queue for a retry."""
        if not self.pending:
            return False
        batch, self.pending = self.pending, []
        try:
            written = self.scripts.finish(now=format_time(self.clock.time()), keep=self.keep, outcomes=batch)
        except Exception:
            self.pending = batch + self.pending
            raise
        return self._report(batch, written)

    def flush_with_claim(self, now: float, request: ClaimRequest) -> tuple[ClaimResult, bool]:
        """Write what is pending and claim in one round trip: (the claim, True when an outcome
        went back to the queue for a retry). What could not be written is kept."""
        batch, self.pending = self.pending, []
        try:
            written, result = self.scripts.finish_and_claim(
                now=format_time(now), keep=self.keep, outcomes=batch, claim=request
            )
        except Exception:
            self.pending = batch + self.pending
            raise
        requeued = False
        if isinstance(written, Exception):
            self.pending = batch + self.pending  # not written: keep them
        else:
            requeued = self._report(batch, written)
        if isinstance(result, Exception):
            raise result
        if isinstance(written, Exception):
            raise written
        return result, requeued

    @staticmethod
    def _report(batch: list[Outcome], written: list[int]) -> bool:
        requeued = False
        for outcome, code in zip(batch, written):
            if code == 0:
                log.warning(
                    "[DISPATCHER] outcome of %s not recorded: it is no longer ours "
                    "(lease lost; another dispatcher finalised it)",
                    outcome.execution_id,
                    extra={"event": "outcome_fenced", "execution_id": outcome.execution_id},
                )
            elif code < 0:
                log.error(
                    "[DISPATCHER] outcome of %s not recorded: its hash is unreadable",
                    outcome.execution_id,
                    extra={"event": "outcome_unreadable", "execution_id": outcome.execution_id},
                )
            elif code == 2:
                requeued = True
        return requeued
