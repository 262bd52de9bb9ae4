"""Follow `internalExecutionHistory` as executions finish (`queuectl history --follow`).

History's score is the finish time the writer's clock gave (finish.lua, expire.lua, reap.lua),
so a cursor "after the last score seen" is not enough: two executions can finish with one
score (the second read after the first), and a dispatcher can write a score a little below
one already read (it took `now` before a peer's script ran, or its clock is a little behind).
Each poll therefore reads from the last score seen minus LOOKBACK, inclusive, and skips the
ids already printed; it remembers only the ids inside that margin.

One loop (follow_steps) serves both fronts: `history --follow` sleeps through it (follow), the
API's event stream (api/stream.py) waits on its event loop between polls.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from queuectl.domain import keys
from queuectl.domain.errors import RedisUnavailable
from queuectl.domain.models import Execution
from queuectl.store.queue import load_executions
from queuectl.store.replies import scored

if TYPE_CHECKING:
    from queuectl.infra.app import App

#: Seconds below the highest score seen that each poll reads again (see the module's text).
LOOKBACK = 5.0
#: History entries read per round trip; a poll stops paging once it has this many new ones
#: (a bigger backlog comes over the next polls).
PAGE = 5000
#: Seconds between polls: Redis is asked at most this often.
INTERVAL = 1.0


@dataclass
class HistoryCursor:
    """Where a follower is in history: the highest score seen and the ids read near it."""

    helper: str | None = None
    status: str | None = None
    high: float | None = None
    seen: dict[str, float] = field(default_factory=dict)  # id -> score, for scores >= high - LOOKBACK

    def start(self, app: App) -> None:
        """Begin at the end: what finished before now (and inside the margin) is not shown."""
        now = app.clock.time()
        self.high = now
        low = now - LOOKBACK
        members = app.guarded(
            lambda: scored(app.client.zrangebyscore(keys.EXECUTION_HISTORY, low, "+inf", withscores=True))
        )
        for execution_id, score in members:
            self.mark(execution_id, score)

    def mark(self, execution_id: str, score: float) -> None:
        self.seen[execution_id] = score
        if self.high is None or score > self.high:
            self.high = score

    def poll(self, app: App) -> list[Execution]:
        """The executions that finished since the last poll, oldest first, as filtered. Raises
        RedisUnavailable (the cursor is unchanged: the next poll picks up from the same place)."""
        now = app.clock.time()
        high = now if self.high is None else min(self.high, now)  # a writer's clock far ahead must not hide the rest
        low = high - LOOKBACK

        def read() -> list[Execution]:
            new: list[tuple[str, float]] = []
            offset = 0
            while len(new) < PAGE:  # the margin's ids come first: page past them
                members = scored(
                    app.client.zrangebyscore(
                        keys.EXECUTION_HISTORY, low, "+inf", start=offset, num=PAGE, withscores=True
                    )
                )
                new += [(i, s) for i, s in members if i not in self.seen]
                if len(members) < PAGE:
                    break
                offset += PAGE
            wanted = [i for i, _ in new if self.helper is None or i.rpartition(":")[0] == self.helper]
            rows = load_executions(app.client, wanted)
            for execution_id, score in new:
                self.mark(execution_id, score)
            return rows

        rows = app.guarded(read)
        self.forget_before(low)
        return [e for e in rows if self.status is None or e.status == self.status]

    def forget_before(self, low: float) -> None:
        if len(self.seen) > 64:
            self.seen = {i: s for i, s in self.seen.items() if s >= low}


@dataclass(frozen=True)
class Outage:
    """Redis stopped answering (`error`), or answers again (`error` None)."""

    error: str | None


@dataclass(frozen=True)
class Wait:
    """The follower has polled: wait this many seconds before asking for the next poll."""

    seconds: float


def follow_steps(
    app: App,
    cursor: HistoryCursor,
    *,
    monotonic: Callable[[], float],
    interval: float = INTERVAL,
) -> Generator[list[Execution] | Outage | Wait, None, None]:
    """The follow loop without its waiting, for a caller that waits its own way (the API's event
    stream waits on its event loop): each poll yields its new executions (only when there are
    some), an Outage when Redis goes away and when it is back (never more than one of each per
    outage), then a Wait. Asking for the item after a Wait polls Redis, so a caller that waits
    out each Wait polls at most once per `interval`. A cursor not started yet is started first
    (at the end of history)."""
    away = False
    while True:
        began = monotonic()
        rows: list[Execution] = []
        try:
            if cursor.high is None:  # not started yet (Redis may be away from the beginning)
                cursor.start(app)
            else:
                rows = cursor.poll(app)
        except RedisUnavailable as exc:
            if not away:
                away = True
                yield Outage(str(exc))
        else:
            if away:
                away = False
                yield Outage(None)
            if rows:
                yield rows
        yield Wait(max(0.0, interval - (monotonic() - began)))


def follow(
    app: App,
    cursor: HistoryCursor,
    *,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
    interval: float = INTERVAL,
) -> Iterator[list[Execution] | Outage]:
    """follow_steps with its waits slept, for a caller that may block (the CLI): yields each
    poll's new executions and the Outages, forever. The caller stops it (Ctrl-C, or by not
    asking for more)."""
    for item in follow_steps(app, cursor, monotonic=monotonic, interval=interval):
        if isinstance(item, Wait):
            sleep(item.seconds)
        else:
            yield item
