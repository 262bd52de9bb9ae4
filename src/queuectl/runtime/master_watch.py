"""With Sentinel: follow the master, and make claims wait for a replica while one is there.

A demoted master stays writable for a while, and what is written there is lost: the dispatcher
drops its connections within a tick of Sentinel naming another master. A claim only the old master
knew could be claimed, and run, a second time after a failover: while the master has (recently)
had a replica, each claim waits briefly for a replica's acknowledgement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from queuectl.domain.clock import Clock
from queuectl.infra.connection import ensure_current_master, sentinel_replicas
from queuectl.store.scripts import Claimed

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

#: Seconds a master that had a replica keeps requiring replica acks for claims.
REPLICA_MEMORY = 60.0


class MasterWatch:
    def __init__(self, client: redis.Redis, clock: Clock, lease: float) -> None:
        self.client = client
        self.clock = clock
        self.lease = lease
        self.replicas = 0  # replicas of the master that claims must reach
        self.replica_seen: dict[tuple[Any, ...], float] = {}  # master address -> monotonic time

    @property
    def sentinel(self) -> bool:
        return getattr(self.client, "queuectl_sentinel", None) is not None

    def check(self) -> bool:
        """Reconnect if Sentinel names another master (True then), and learn whether claims
        must reach a replica. Without Sentinel, nothing to do."""
        if not self.sentinel:
            return False
        moved = ensure_current_master(self.client)
        if moved:
            log.warning("[DISPATCHER] Sentinel names a new master; reconnected", extra={"event": "sentinel_failover"})
        # A master that has just lost its replica to a promotion keeps accepting writes that the
        # new master never sees; a master that never had a replica (freshly promoted) claims freely.
        master = tuple(getattr(self.client, "queuectl_master", None) or ())
        connected = int(self.client.info("replication").get("connected_slaves", 0))
        mono = self.clock.monotonic()
        if connected > 0:
            self.replica_seen[master] = mono
        seen = self.replica_seen.get(master)
        recently = seen is not None and mono - seen < REPLICA_MEMORY
        # a replica that merely died is marked down by Sentinel and stops counting; one that is
        # being promoted still looks healthy to Sentinel for a moment, and we keep waiting for acks
        self.replicas = 1 if connected > 0 or (recently and sentinel_replicas(self.client) > 0) else 0
        return moved

    def replicated(self) -> bool:
        """After a claim: True when no replica must have it, or one acknowledged it in time."""
        if self.replicas <= 0:
            return True
        timeout_ms = int(max(50, min(1000, self.lease * 1000 / 6)))
        return int(self.client.wait(1, timeout_ms)) >= 1

    def confirm(self, claimed: list[Claimed], release: Callable[[str, str], object]) -> bool:
        """True when the claims just made are safe to run; else they are handed back (a claim only
        the master knows may be lost in a failover and claimed again there)."""
        if not claimed or self.replicated():
            return True
        for claim in claimed:
            release(claim.execution_id, claim.token)
        log.warning(
            "[DISPATCHER] %d claims were not acknowledged by a replica; handed back, retrying next tick",
            len(claimed),
            extra={"event": "claims_unacknowledged", "count": len(claimed)},
        )
        return False
