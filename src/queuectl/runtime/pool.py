"""A bounded pool of worker processes that run helpers in isolation (reliability R8).

A helper that raises only fails its execution; one that kills its process, hangs past its
timeout or is abandoned gets its worker's whole process group killed and a fresh worker takes the
slot. Forking per execution would cost a Python start-up per run; a pool keeps isolation and
starts work in microseconds. The messages both ways are runtime/protocol.py's.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
from collections.abc import Callable, Iterable

from queuectl.infra.config import Settings
from queuectl.infra.process import kill_group
from queuectl.runtime import protocol
from queuectl.runtime.job_socket import JobSocket
from queuectl.runtime.worker_process import Job, Result, WorkerArgs, WorkerProcess


class Pace:
    """How fast helpers finish, and what that allows: prefetching jobs beyond the idle workers,
    and packing several jobs into one message.

    On top of the running jobs, up to `prefetch` more may wait in the socket, but only while
    helpers finish fast: the allowance is what the workers would start within PREFETCH_WAIT at
    the recent pace, so a slow helper never has work queued up behind it that another dispatcher
    could have run."""

    #: Longest a prefetched job is expected to wait for a worker, seconds.
    PREFETCH_WAIT = 0.02
    #: Helpers that run shorter than this on average (seconds) are sent several to a message
    #: when many are handed over at once: fewer messages, fewer wake-ups. A worker that finds
    #: one job of a batch slow puts the rest back for the others (see worker.py).
    BATCH_RUN = 0.001
    BATCH_MAX = 32

    def __init__(self, size: int, prefetch: int) -> None:
        self.size = size
        self.prefetch = prefetch
        self.mean_run = 1.0  # moving average of helper run time, seconds (pessimistic until measured)
        self.measured = False

    def measure(self, took: float) -> None:
        """The first run replaces the guess of helper run time; then a moving average that
        follows a change of pace within a few runs (a slow helper stops the prefetch at once)."""
        took = max(took, 1e-5)
        self.mean_run = self.mean_run + (took - self.mean_run) * 0.2 if self.measured else took
        self.measured = True

    def allowance(self) -> int:
        """Jobs that may wait for a worker on top of the running ones, now."""
        if not self.prefetch:
            return 0
        return min(self.prefetch, int(self.size * self.PREFETCH_WAIT / max(self.mean_run, 1e-4)))

    def per_message(self, count: int) -> int:
        """How many of `count` jobs handed over at once to pack into one message."""
        if self.mean_run >= self.BATCH_RUN:
            return 1
        # as many messages as there are cores to run them: more awake workers than cores only
        # take turns on the CPU (each message wakes one worker)
        lanes = max(1, min(self.size, os.cpu_count() or 1))
        return max(1, min(self.BATCH_MAX, -(-count // lanes)))


class WorkerPool:
    """`size` workers sharing one job socket; `submit` queues a job, `poll` collects outcomes.
    Up to `size` helpers run at once, and a few more jobs may wait while helpers are fast (Pace)."""

    #: Jobs a dispatcher's pool may take on top of the running ones, while helpers finish fast.
    PREFETCH = 500

    @classmethod
    def for_settings(
        cls, settings: Settings, *, dispatcher_id: str, monotonic: Callable[[], float], env: dict[str, str] | None
    ) -> WorkerPool:
        """The pool of a dispatcher with these settings (concurrency, memory cap, lease)."""
        return cls(
            settings.concurrency,
            dispatcher_id=dispatcher_id,
            env=env,
            monotonic=monotonic,
            memory_limit_mb=settings.memory_limit,
            lease=settings.lease,
            prefetch=cls.PREFETCH,
        )

    def __init__(
        self,
        size: int,
        *,
        dispatcher_id: str,
        env: dict[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        memory_limit_mb: int = 0,
        lease: float = 0.0,
        prefetch: int = 0,
    ) -> None:
        self.size = size
        self.dispatcher_id = dispatcher_id
        self.env = dict(env if env is not None else os.environ)
        self.args = WorkerArgs(dispatcher_pid=os.getpid(), lease=lease, memory_limit_mb=memory_limit_mb)
        self.monotonic = monotonic
        self.selector = selectors.DefaultSelector()
        self.workers: dict[int, WorkerProcess] = {}  # result fd -> worker
        self.jobs: dict[int, Job] = {}  # seq -> job submitted and not finished
        self.cancelled: set[int] = set()
        #: seq -> (monotonic time of the SIGKILL, error text): running jobs an operator cancelled
        #: (SIGTERM sent); whatever ends them, they end `cancelled`
        self.terminating: dict[int, tuple[float, str]] = {}
        self.seq = 0
        self.pace = Pace(size, prefetch)
        self.preloaded: list[str] = []
        self.socket = JobSocket(self.selector)
        self.activity = 0  # event lines the last poll read (0: the workers were quiet)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        while len(self.workers) < self.size:
            self._spawn()

    def _spawn(self) -> WorkerProcess:
        worker = WorkerProcess(self.args, self.env, self.socket.worker_fd)
        self.workers[worker.fd] = worker
        self.selector.register(worker.fd, selectors.EVENT_READ, worker)
        if self.preloaded:
            worker.send_preload(self.preloaded)
        return worker

    def _retire(self, worker: WorkerProcess, kill: bool) -> None:
        if self.workers.pop(worker.fd, None) is not None:
            try:
                self.selector.unregister(worker.fd)
            except (KeyError, ValueError):
                pass
        if kill:
            worker.kill()
        else:
            worker.close()
        self._send_again(worker.taken)  # taken, never started: for another worker
        worker.taken.clear()

    def _send_again(self, seqs: Iterable[int]) -> None:
        for seq in sorted(seqs):
            job = self.jobs.get(seq)
            if job is not None:
                self._enqueue([job])

    def preload(self, sources: list[str]) -> None:
        """Have every worker import these helper files now, before their executions fall due
        (a file may define thousands of helpers; importing it at the due time costs lateness)."""
        self.preloaded = list(sources)
        for worker in list(self.workers.values()):
            worker.send_preload(self.preloaded)

    def wake(self) -> None:
        """Interrupt a `poll` from a signal handler."""
        try:
            os.write(self.wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    @property
    def started(self) -> int:
        """Jobs running now (a worker said `S`, no `D` yet)."""
        return sum(1 for w in self.workers.values() if w.job is not None)

    @property
    def free(self) -> int:
        """How many more jobs to take now: the idle workers, plus the prefetch allowance."""
        return max(0, self.size + self.pace.allowance() - len(self.jobs))

    # -- work ---------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue a job for the next idle worker (it waits in the worker until `job.at`)."""
        self.submit_many([job])

    def submit_many(self, jobs: list[Job]) -> None:
        """Queue jobs for the idle workers; many fast ones share a message (Pace.per_message)."""
        if len(jobs) > self.free:
            raise RuntimeError("no free worker")
        for job in jobs:
            self.seq += 1
            job.seq = self.seq
        per_message = self.pace.per_message(len(jobs))
        for i in range(0, len(jobs), per_message):
            self._enqueue(jobs[i : i + per_message])

    def _enqueue(self, jobs: list[Job]) -> None:
        offset = time.monotonic() - self.monotonic()  # to the workers' clock
        parts = []
        for job in jobs:
            self.jobs[job.seq] = job
            parts.append(protocol.encode_job(job.message(self.dispatcher_id, clock_offset=offset)))
        self.socket.send(protocol.join_batch(parts))

    def poll(self, timeout: float | None) -> list[Result]:
        """Wait up to `timeout` seconds for outcomes (or a wake-up); enforce timeouts."""
        results: list[Result] = []
        deadline = self.next_deadline()
        if deadline is not None:
            left = max(0.0, deadline - self.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        events = self.selector.select(timeout=None if timeout is None else max(0.0, timeout))
        self.activity = 0
        for key, _mask in events:
            worker = key.data
            if worker is None:
                try:
                    while os.read(self.wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            elif worker is self.socket:
                self.socket.flush()
            else:
                results += self._collect(worker)
        results += self._enforce_timeouts()
        if len(self.workers) < self.size:
            self.start()  # replace a worker that died, timed out or retired
        return results

    def _collect(self, worker: WorkerProcess) -> list[Result]:
        """Apply the events a worker wrote; replace it when it ended (its running job crashed)."""
        lines, eof = worker.read_lines()
        self.activity += len(lines)
        results: list[Result] = []
        retire = False
        for line in lines:
            event = protocol.decode_event(line)
            if event.kind == "X":
                retire = True
            elif not self._apply(worker, event, results):
                return results  # the worker was killed
        if eof or retire:
            job = worker.job
            self._retire(worker, kill=True)
            if job is not None:
                self.jobs.pop(job.seq, None)
                stop = self.terminating.pop(job.seq, None)
                if stop is not None:
                    results.append(Result(job=job, ok=False, error=stop[1], reason="cancelled"))
                else:
                    results.append(Result(job=job, ok=False, error=worker.exit_description(), reason="crashed"))
        return results

    def _apply(self, worker: WorkerProcess, event: protocol.Event, results: list[Result]) -> bool:
        """One event of `worker`; False when it meant killing the worker."""
        kind = event.kind
        if kind == "T":
            worker.taken.update(event.seqs)
        elif kind == "P":
            worker.taken.difference_update(event.seqs)
            self._send_again(event.seqs)
        elif kind == "S":
            worker.taken.discard(event.seq)
            if event.seq in self.cancelled:  # retracted too late (`cancel` dropped it): it must not run
                self.cancelled.discard(event.seq)
                self.jobs.pop(event.seq, None)
                self._retire(worker, kill=True)
                return False
            job = self.jobs.get(event.seq)
            if job is not None:
                worker.job = job
                worker.deadline = self.monotonic() + job.timeout if job.timeout else None
        elif kind == "D":
            self.cancelled.discard(event.seq)
            job = self.jobs.pop(event.seq, None)
            worker.job = None
            worker.deadline = None
            stop = self.terminating.pop(event.seq, None)
            if job is not None and stop is not None:  # it returned after the SIGTERM: still cancelled
                results.append(
                    Result(
                        job=job,
                        ok=False,
                        error=stop[1],
                        reason="cancelled",
                        started=event.started,
                        finished=event.finished,
                    )
                )
            elif job is not None:
                self.pace.measure(event.finished - event.started)
                results.append(
                    Result(
                        job=job,
                        ok=event.ok,
                        error=None if event.ok else event.error,
                        reason=None if event.ok else event.reason,
                        started=event.started,
                        finished=event.finished,
                    )
                )
        elif kind == "R":
            worker.taken.discard(event.seq)
            job = self.jobs.pop(event.seq, None)
            if job is not None and job.seq not in self.cancelled:
                results.append(
                    Result(
                        job=job,
                        ok=False,
                        handed_back=True,
                        reason="not started",
                        error="not started before its local lease ran out",
                    )
                )
            self.cancelled.discard(event.seq)
        return True

    def next_deadline(self) -> float | None:
        deadlines = [w.deadline for w in self.workers.values() if w.deadline is not None]
        deadlines += [kill_at for kill_at, _ in self.terminating.values()]
        return min(deadlines) if deadlines else None

    def terminate(self, execution_id: str, *, grace: float, error: str) -> bool:
        """Stop a running job on an operator's request: SIGTERM to its worker's process group now
        (the worker's handler kills the group; a helper that installed its own handler may clean
        up), SIGKILL once `grace` seconds pass. False when no worker is running it."""
        for worker in self.workers.values():
            job = worker.job
            if job is not None and job.execution_id == execution_id:
                if job.seq not in self.terminating:
                    self.terminating[job.seq] = (self.monotonic() + grace, error)
                    kill_group(worker.pid, signal.SIGTERM)
                return True
        return False

    def _enforce_timeouts(self) -> list[Result]:
        now = self.monotonic()
        results = []
        for worker in list(self.workers.values()):
            stop = self.terminating.get(worker.job.seq) if worker.job is not None else None
            if worker.job is not None and stop is not None and now >= stop[0]:
                job = worker.job
                self._retire(worker, kill=True)
                self.jobs.pop(job.seq, None)
                self.terminating.pop(job.seq, None)
                results.append(
                    Result(job=job, ok=False, reason="cancelled", error=f"{stop[1]} (killed after the grace)")
                )
                continue
            if worker.deadline is not None and now >= worker.deadline and worker.job is not None:
                job = worker.job
                self._retire(worker, kill=True)
                self.jobs.pop(job.seq, None)
                results.append(
                    Result(
                        job=job,
                        ok=False,
                        reason="timeout",
                        error=f"timeout: still running after {job.timeout:g} s, killed",
                    )
                )
        return results

    def drain(self) -> list[Job]:
        """Take back every job no worker has picked up yet (they have not started)."""
        taken = self.socket.take_back()
        return [job for job in (self.jobs.pop(seq, None) for seq in taken) if job is not None]

    def cancel(self, execution_id: str) -> Job | None:
        """Make sure `execution_id` does not run (its lease was lost): kill its worker if it has
        started, else take it back from the socket. Returns the job."""
        for worker in list(self.workers.values()):
            if worker.job is not None and worker.job.execution_id == execution_id:
                job = worker.job
                self._retire(worker, kill=True)
                self.jobs.pop(job.seq, None)
                return job
        for seq, job in list(self.jobs.items()):
            if job.execution_id == execution_id:
                others = [j for j in self.drain() if j.seq != seq]
                for other in others:  # back in the socket, in their order
                    self._enqueue([other])
                if seq in self.jobs:  # a worker holds it (waiting for its time): stop it if it starts
                    self.cancelled.add(seq)
                    self.jobs.pop(seq, None)
                return job
        return None

    def kill_all(self) -> list[Job]:
        """Kill every worker; returns the jobs that were submitted and not finished."""
        jobs = list(self.jobs.values())
        for worker in list(self.workers.values()):
            self._retire(worker, kill=True)
        self.jobs.clear()
        self.drain()
        return jobs

    def close(self) -> None:
        for worker in list(self.workers.values()):
            self._retire(worker, kill=worker.job is not None)
        self.workers.clear()
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.socket.close()
        self.selector.close()
