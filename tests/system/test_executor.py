"""The worker pool runs helpers in isolated processes: whatever a helper does, the caller gets one
outcome per job, and the pool keeps working."""
from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from queuectl.executor import Job, WorkerPool

HELPERS = '''
import os, sys, time, ctypes
from queuectl import BaseHelper

class Ok(BaseHelper):
    name = "ok"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self, ctx): return ctx.attempt

class Raises(BaseHelper):
    name = "raises"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self): raise ValueError("bad \\x1b[31minput\\x00")

class Exits(BaseHelper):
    name = "exits"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self): sys.exit(3)

class Interrupts(BaseHelper):
    name = "interrupts"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self): raise KeyboardInterrupt()

class Hard(BaseHelper):
    name = "hard"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self): os._exit(7)

class Segv(BaseHelper):
    name = "segv"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self): ctypes.string_at(0)

class Hangs(BaseHelper):
    name = "hangs"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self): time.sleep(60)

class Leaks(BaseHelper):
    name = "leaks"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self):
        hog = []
        while True:
            hog.append(bytearray(20 * 1024 * 1024))
'''


@pytest.fixture()
def source(tmp_path: Path) -> str:
    path = tmp_path / "zoo.py"
    path.write_text(textwrap.dedent(HELPERS))
    return str(path)


def job(source: str, helper: str, n: int = 0, timeout: float | None = None) -> Job:
    return Job(execution_id=f"{helper}:{1796032800 + n}", helper=helper, source=source,
               execution_time=1796032800 + n, attempt=1, token=f"t{n}", timeout=timeout)


def collect(pool: WorkerPool, count: int, limit: float = 20.0) -> dict[str, object]:
    out = {}
    deadline = time.monotonic() + limit
    while len(out) < count and time.monotonic() < deadline:
        for result in pool.poll(0.2):
            out[result.job.execution_id] = result
    assert len(out) == count, f"only {len(out)} of {count} outcomes"
    return out


def test_every_kind_of_failure_is_one_outcome_and_the_pool_survives(source: str) -> None:
    pool = WorkerPool(3, dispatcher_id="test", memory_limit_mb=400)
    pool.start()
    try:
        names = ["ok", "raises", "exits", "interrupts", "hard", "segv", "leaks"]
        results = {}
        for i, name in enumerate(names):
            while pool.free == 0:
                for r in pool.poll(0.2):
                    results[r.job.execution_id] = r
            pool.submit(job(source, name, i))
        results.update(collect(pool, len(names) - len(results)))
        by_helper = {r.job.helper: r for r in results.values()}
        assert by_helper["ok"].ok
        assert "ValueError: bad" in by_helper["raises"].error
        assert "\x1b" not in by_helper["raises"].error and "\x00" not in by_helper["raises"].error
        assert by_helper["exits"].error == "SystemExit: exit code 3"
        assert by_helper["interrupts"].error.startswith("KeyboardInterrupt")
        assert "exited with code 7" in by_helper["hard"].error
        assert "SIGSEGV" in by_helper["segv"].error
        assert by_helper["leaks"].reason == "memory" and "MemoryError" in by_helper["leaks"].error
        # and the pool still runs work afterwards, on every slot
        later = {}
        for i in range(6):
            while pool.free == 0:
                later.update({r.job.execution_id: r for r in pool.poll(0.2)})
            pool.submit(job(source, "ok", 100 + i))
        later.update(collect(pool, 6 - len(later)))
        assert len(later) == 6 and all(r.ok for r in later.values()), [(r.job.helper, r.error) for r in later.values()]
    finally:
        pool.close()


def test_timeout_kills_the_helper_and_frees_the_slot(source: str) -> None:
    pool = WorkerPool(1, dispatcher_id="test")
    pool.start()
    try:
        started = time.monotonic()
        pool.submit(job(source, "hangs", timeout=0.5))
        result = next(iter(collect(pool, 1).values()))
        assert result.reason == "timeout" and "timeout" in result.error
        assert time.monotonic() - started < 3
        pool.submit(job(source, "ok", 1))
        assert next(iter(collect(pool, 1).values())).ok
    finally:
        pool.close()


def test_a_worker_that_exits_after_answering_is_not_reused(source: str) -> None:
    """A memory failure makes the worker exit right after its answer; the next job must not be
    sent to that dead worker (it would never answer)."""
    pool = WorkerPool(1, dispatcher_id="test", memory_limit_mb=300)
    pool.start()
    try:
        for i in range(3):
            pool.submit(job(source, "leaks", i))
            assert next(iter(collect(pool, 1).values())).reason == "memory"
            pool.submit(job(source, "ok", 10 + i))
            assert next(iter(collect(pool, 1).values())).ok
    finally:
        pool.close()


def test_kill_all_leaves_no_process(source: str) -> None:
    pool = WorkerPool(2, dispatcher_id="test")
    pool.start()
    pids = [w.pid for w in pool.idle]
    pool.submit(job(source, "hangs"))
    jobs = pool.kill_all()
    assert [j.helper for j in jobs] == ["hangs"]
    time.sleep(0.2)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    pool.close()
