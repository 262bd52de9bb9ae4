"""When the dispatcher's periodic work falls due: the tick, lease renewals, window expansions.

Executions are due on whole seconds; periodic work (period >= 1 s) runs on the half second, so
its Redis round trips do not compete with their start.
"""

from __future__ import annotations

from queuectl.domain.clock import Clock
from queuectl.domain.lease import renew_every


class LoopTiming:
    """Monotonic deadlines of the periodic steps (`due_*` asks, `*_done` moves the deadline on)."""

    def __init__(self, clock: Clock, *, tick: float, lease: float, expand_every: float) -> None:
        self.clock = clock
        self.tick = tick
        self.lease = lease
        self.expand_every = expand_every
        mono = clock.monotonic()
        self.next_tick = mono
        self.next_renew = self.off_beat(mono + renew_every(lease))
        self.next_expand = self.off_beat(mono + expand_every)

    def off_beat(self, mono: float) -> float:
        """`mono`, moved to the next half second of wall time when it is a second or more ahead."""
        ahead = mono - self.clock.monotonic()
        if ahead < 1.0:
            return mono
        fraction = (self.clock.time() + ahead) % 1.0
        return mono + (0.5 - fraction) % 1.0

    def tick_done(self, mono: float) -> None:
        self.next_tick = self.off_beat(mono + self.tick)

    def renew_done(self, mono: float, ok: bool) -> None:
        """The next renewal: a period on, or soon when this one did not reach Redis."""
        if ok:
            self.next_renew = self.off_beat(mono + renew_every(self.lease))
        else:
            self.next_renew = mono + min(0.2, self.lease / 10)

    def expand_done(self, mono: float) -> None:
        self.next_expand = self.off_beat(mono + self.expand_every)

    def wait(self, *, expanding: bool, away: bool, others: list[float | None]) -> float:
        """Seconds to sleep: until the earliest periodic deadline or of `others` (monotonic times,
        None for none); while Redis is away, at most a tick (and a second)."""
        mono = self.clock.monotonic()
        if away:
            return min(self.tick, 1.0)
        targets = [self.next_tick, self.next_renew] + ([self.next_expand] if expanding else [])
        targets += [t for t in others if t is not None]
        return max(0.0, min(targets) - mono)
