"""Cancel requests for this dispatcher's running executions (`queuectl executions cancel`).

cancel.lua leaves a request in this dispatcher's cancel hash (keys.cancel_key) for an execution
it runs; the dispatcher reads that hash once a tick, and only while it runs something: one
command (the requests it has acted on are dropped in the same round trip). A helper that has
started gets SIGTERM on its process group, then SIGKILL after the grace (the pool's kill path,
as for a timeout); one claimed and not started yet is taken back from the pool at once. Either
way the execution ends `cancelled`, written by finish.lua like any outcome, and never retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from queuectl.domain import keys
from queuectl.runtime.worker_process import Result
from queuectl.store.replies import text_map

if TYPE_CHECKING:
    from queuectl.infra.app import App
    from queuectl.runtime.leases import LeaseKeeper
    from queuectl.runtime.pool import WorkerPool

log = logging.getLogger("queuectl.runtime.dispatcher")

#: The outcome reason of a cancelled execution (finish.lua writes the status `cancelled` for it).
CANCELLED = "cancelled"


class CancelWatch:
    def __init__(
        self, app: App, pool: WorkerPool, leases: LeaseKeeper, dispatcher_id: str, record: Callable[[Result], None]
    ) -> None:
        self.app = app
        self.pool = pool
        self.leases = leases
        self.key = keys.cancel_key(dispatcher_id)
        self.record = record
        self.acting: set[str] = set()  # requests being carried out (SIGTERM sent, waiting for the end)
        self.done: list[str] = []  # requests to drop from the hash on the next read

    def check(self) -> None:
        """Read the requests (while anything runs) and act on the new ones."""
        if not self.leases.running and not self.done:
            return
        pipe = self.app.client.pipeline(transaction=False)
        if self.done:
            pipe.hdel(self.key, *self.done)
        pipe.hgetall(self.key)
        requests = text_map(pipe.execute()[-1])
        self.done = []
        self.acting &= set(self.leases.running)  # ended (their requests may have expired meanwhile)
        for execution_id, raw in requests.items():
            if execution_id not in self.leases.running:
                self.acting.discard(execution_id)
                self.done.append(execution_id)  # it has ended (or was never ours): drop it
            elif execution_id not in self.acting:
                self.act(execution_id, raw)

    def act(self, execution_id: str, raw: str) -> None:
        try:
            request = json.loads(raw)
            grace = max(0.0, float(request.get("grace", 10.0)))
            error = str(request.get("error") or "cancelled")
        except (ValueError, TypeError, AttributeError):
            grace, error = 10.0, "cancelled"
        self.acting.add(execution_id)
        if self.pool.terminate(execution_id, grace=grace, error=error):
            log.warning(
                "[DISPATCHER] cancelling %s: SIGTERM sent to its process group (SIGKILL after %gs)",
                execution_id,
                grace,
                extra={"event": "execution_cancelling", "execution_id": execution_id},
            )
            return
        job = self.pool.cancel(execution_id)  # claimed, not started: it never runs
        if job is None:
            return  # it has just finished: its outcome stands
        log.warning(
            "[DISPATCHER] cancelled %s before it started",
            execution_id,
            extra={"event": "execution_cancelled", "execution_id": execution_id},
        )
        self.record(Result(job=job, ok=False, reason=CANCELLED, error=error))
