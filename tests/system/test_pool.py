"""The worker pool runs helpers in isolated processes: whatever a helper does, the caller gets one
outcome per job, and the pool keeps working."""

from __future__ import annotations

import os
import socket
import textwrap
import time
from pathlib import Path

import pytest

from queuectl.runtime.pool import WorkerPool
from queuectl.runtime.worker_process import Job

HELPERS = """
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

class Naps(BaseHelper):
    name = "naps"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self): time.sleep(0.6)

class Leaks(BaseHelper):
    name = "leaks"
    def get_schedule_config(self): return {"type": "interval", "interval_seconds": 60}
    def run(self):
        hog = []
        while True:
            hog.append(bytearray(20 * 1024 * 1024))
"""


@pytest.fixture()
def source(tmp_path: Path) -> str:
    path = tmp_path / "zoo.py"
    path.write_text(textwrap.dedent(HELPERS))
    return str(path)


def job(source: str, helper: str, n: int = 0, timeout: float | None = None, **more: float) -> Job:
    return Job(
        execution_id=f"{helper}:{1796032800 + n}",
        helper=helper,
        source=source,
        execution_time=1796032800 + n,
        attempt=1,
        token=f"t{n}",
        timeout=timeout,
        **more,
    )


def fast_pool(size: int) -> WorkerPool:
    """A pool that has seen helpers finish fast, so it takes jobs beyond its idle workers."""
    pool = WorkerPool(size, dispatcher_id="test", prefetch=100)
    pool.pace.mean_run = 1e-4
    pool.start()
    return pool


def collect(pool: WorkerPool, count: int, limit: float = 20.0) -> dict[str, object]:
    out = {}
    deadline = time.monotonic() + limit
    while len(out) < count and time.monotonic() < deadline:
        for result in pool.poll(0.2):
            out[result.job.execution_id] = result
    assert len(out) == count, f"only {len(out)} of {count} outcomes"
    return out


def run_all(pool: WorkerPool, jobs: list[Job]) -> dict[str, object]:
    """Submit each job as soon as the pool takes it; the outcomes of all, by execution id."""
    out = {}
    for j in jobs:
        while pool.free == 0:
            out.update({r.job.execution_id: r for r in pool.poll(0.2)})
        pool.submit(j)
    out.update(collect(pool, len(jobs) - len(out), limit=60))
    return out


def test_every_kind_of_failure_is_one_outcome_and_the_pool_survives(source: str) -> None:
    pool = WorkerPool(3, dispatcher_id="test", memory_limit_mb=400)
    pool.start()
    try:
        names = ["ok", "raises", "exits", "interrupts", "hard", "segv", "leaks"]
        results = run_all(pool, [job(source, name, i) for i, name in enumerate(names)])
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
        later = run_all(pool, [job(source, "ok", 100 + i) for i in range(6)])
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
    pids = [w.pid for w in pool.workers.values()]
    pool.submit(job(source, "hangs"))
    jobs = pool.kill_all()
    assert [j.helper for j in jobs] == ["hangs"]
    time.sleep(0.2)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    pool.close()


def test_a_job_starts_at_its_instant_not_when_handed_over(source: str) -> None:
    pool = WorkerPool(1, dispatcher_id="test")
    pool.start()
    try:
        pool.submit(job(source, "ok"))  # warm: the worker has imported the file
        collect(pool, 1)
        at = time.time() + 0.4
        pool.submit(job(source, "ok", 1, at=at))
        result = next(iter(collect(pool, 1).values()))
        assert result.ok and at <= result.started < at + 0.05, result.started - at
    finally:
        pool.close()


def test_a_slow_helper_holds_back_no_waiting_job(source: str) -> None:
    """Jobs wait in one socket shared by the workers: whichever worker is idle takes the next,
    so quick jobs queued behind a slow one still run at once on the other worker."""
    pool = fast_pool(2)
    try:
        began = time.time()
        pool.submit(job(source, "naps"))
        for i in range(1, 21):
            pool.submit(job(source, "ok", i))
        results = collect(pool, 21)
        quick = [r for r in results.values() if r.job.helper == "ok"]
        assert all(r.ok for r in quick)
        assert max(r.started for r in quick) - began < 0.4, "quick jobs waited for the slow one"
        assert results["naps:1796032800"].finished - began >= 0.6
    finally:
        pool.close()


def test_a_job_whose_local_lease_ran_out_is_handed_back_unstarted(source: str) -> None:
    pool = WorkerPool(1, dispatcher_id="test")
    pool.start()
    try:
        pool.submit(job(source, "ok", at=time.time() + 0.3, lease_mono=pool.monotonic() + 0.1))
        result = next(iter(collect(pool, 1).values()))
        assert result.handed_back and not result.ok and result.started is None
    finally:
        pool.close()


def test_drain_and_cancel_take_back_jobs_no_worker_has_started(source: str) -> None:
    pool = fast_pool(1)
    try:
        pool.submit(job(source, "naps"))
        for i in range(1, 5):
            pool.submit(job(source, "ok", i))
        deadline = time.monotonic() + 5
        while pool.started == 0 and time.monotonic() < deadline:
            assert pool.poll(0.05) == []
        # the only worker is napping: the four quick jobs are still in the socket
        cancelled = pool.cancel("ok:1796032802")
        assert cancelled is not None and cancelled.helper == "ok"
        taken = pool.drain()
        assert sorted(j.execution_id for j in taken) == ["ok:1796032801", "ok:1796032803", "ok:1796032804"]
        results = collect(pool, 1)
        assert list(results) == ["naps:1796032800"]
        assert pool.poll(0.3) == [] and not pool.jobs
    finally:
        pool.close()


def test_a_burst_larger_than_the_socket_buffer_all_runs(source: str) -> None:
    pool = fast_pool(2)
    pool.pace.prefetch = 5000
    pool.socket.out.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # force the outbox path
    try:
        results = {}
        for i in range(2000):
            while pool.free == 0:
                results.update({r.job.execution_id: r for r in pool.poll(0.2)})
            pool.submit(job(source, "ok", i))
            if i == 300:
                assert pool.socket.outbox, "the socket took every message: the outbox path was not exercised"
        results.update(collect(pool, 2000 - len(results), limit=60))
        assert len(results) == 2000 and all(r.ok for r in results.values())
    finally:
        pool.close()


def test_jobs_packed_behind_a_slow_one_are_put_back_for_idle_workers(source: str) -> None:
    """Fast helpers are sent several to a message; when one of them turns out slow, the rest of
    its message goes back to the socket within a few ms, for the other worker to run."""
    pool = fast_pool(2)
    try:
        began = time.time()
        pool.submit_many([job(source, "naps")] + [job(source, "ok", i) for i in range(1, 8)])
        results = collect(pool, 8)
        quick = [r for r in results.values() if r.job.helper == "ok"]
        assert all(r.ok for r in quick)
        assert max(r.started for r in quick) - began < 0.3, sorted(r.started - began for r in quick)
    finally:
        pool.close()


def test_the_pool_takes_extra_jobs_only_while_helpers_run_fast(source: str) -> None:
    """Prefetch follows the measured pace: nothing extra before any run, a large allowance after
    fast runs, none again right after a slow one (so no job waits behind slow helpers)."""
    pool = WorkerPool(2, dispatcher_id="test", prefetch=100)
    pool.start()
    try:
        assert pool.free == 2  # nothing measured yet: only the idle workers
        # each worker's first run also imports the file: run those two at once, or a worker that
        # took all the early jobs leaves its slow first run until late in the average
        pool.submit_many([job(source, "ok", 100), job(source, "ok", 101)])
        collect(pool, 2)
        for i in range(30):  # then they are fast
            pool.submit(job(source, "ok", i))
            collect(pool, 1)
        assert pool.free == 2 + 100
        pool.submit(job(source, "naps", 2))
        collect(pool, 1)
        assert pool.free == 2
    finally:
        pool.close()


def test_jobs_packed_with_one_that_kills_its_worker_still_run_once(source: str) -> None:
    """A worker that dies mid-batch took jobs it never started: the pool sends them again (it
    knows them from the worker's `T` line), and nothing runs twice."""
    pool = fast_pool(2)
    try:
        run_all(pool, [job(source, "ok", 100 + i) for i in range(10)])  # both workers have the file
        pool.pace.mean_run = 1e-4  # so the next hand-over is packed
        pool.submit_many([job(source, "hard")] + [job(source, "ok", i) for i in range(1, 6)])
        results = collect(pool, 6)
        assert results["hard:1796032800"].reason == "crashed"
        assert all(r.ok for r in results.values() if r.job.helper == "ok")
        assert pool.poll(0.3) == [] and not pool.jobs  # no second outcome for anything
    finally:
        pool.close()


def test_a_job_held_by_a_worker_killed_before_its_instant_runs_on_another(source: str) -> None:
    pool = WorkerPool(1, dispatcher_id="test")
    pool.start()
    try:
        at = time.time() + 0.6
        pool.submit(job(source, "ok", at=at))
        [worker] = pool.workers.values()
        deadline = time.monotonic() + 5
        while not worker.taken and time.monotonic() < deadline:
            assert pool.poll(0.05) == []
        os.kill(worker.pid, 9)  # while it waits for the instant
        result = next(iter(collect(pool, 1).values()))
        assert result.ok and at <= result.started < at + 0.2
    finally:
        pool.close()
