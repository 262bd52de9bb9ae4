"""A bounded pool of worker processes that run helpers in isolation (reliability R8).

Each worker is a long-lived child (`python -m queuectl.runtime.worker`) in its own session, killed with
the dispatcher (PR_SET_PDEATHSIG) and running one execution at a time. A helper that raises only
fails its execution; one that kills its process, hangs past its timeout or is abandoned gets its
worker's whole process group killed and a fresh worker takes the slot. Forking per execution
would cost a Python start-up per run; a pool keeps isolation and starts work in microseconds.
"""
from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from queuectl.infra.process import kill_group, term_with_parent
from queuectl.runtime.worker import BATCH_SEP, encode_job

log = logging.getLogger(__name__)

@dataclass(kw_only=True)
class Job:
    """One claimed execution handed to a worker."""

    execution_id: str
    helper: str
    source: str
    execution_time: int
    attempt: int
    token: str
    timeout: float | None = None
    at: float = 0.0  # wall time not to start before (the due instant; 0 = at once)
    lease_mono: float = float("inf")  # monotonic time after which it must not start
    extra: dict[str, Any] = field(default_factory=dict)
    seq: int = 0  # the pool's number for it, in the job messages and the workers' events


@dataclass(kw_only=True)
class Result:
    job: Job
    ok: bool
    error: str | None = None
    reason: str | None = None
    started: float | None = None
    finished: float | None = None
    handed_back: bool = False  # never started (its local lease ran out first): release the claim


class Worker:
    """One child process, its result pipe and the job it is running."""

    def __init__(self, env: dict[str, str], job_fd: int) -> None:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "queuectl.runtime.worker", str(job_fd), str(write_fd)],
            stdin=subprocess.PIPE,
            pass_fds=(job_fd, write_fd),
            start_new_session=True,
            preexec_fn=term_with_parent,
            env=env,
        )
        os.close(write_fd)
        self.fd = read_fd
        os.set_blocking(read_fd, False)
        self.buffer = b""
        self.job: Job | None = None
        self.taken: set[int] = set()  # jobs it took from the socket and has not started or given back
        self.deadline: float | None = None  # monotonic

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send_preload(self, sources: list[str]) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps({"preload": sources}) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # a dead worker is noticed and replaced by the pool

    def read_lines(self) -> tuple[list[bytes], bool]:
        """Complete event lines available now, and whether the worker closed its pipe."""
        eof = False
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            self.buffer += chunk
        if b"\n" not in self.buffer:
            return [], eof
        *lines, self.buffer = self.buffer.split(b"\n")
        return lines, eof

    def kill(self) -> None:
        """Kill the worker's whole process group (helpers may have forked)."""
        kill_group(self.proc.pid)
        self.close()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass

    def exit_description(self) -> str:
        try:
            rc = self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "its worker stopped answering"
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return f"the helper's process was killed by {name}"
        return f"the helper's process exited with code {rc}"


class WorkerPool:
    """`size` workers sharing one job socket; `submit` queues a job, `poll` collects outcomes.

    Up to `size` helpers run at once. On top of those, `prefetch` more jobs may wait in the
    socket, but only while helpers finish fast: the allowance is what the workers would start
    within `PREFETCH_WAIT` at the recent pace, so a slow helper never has work queued up behind
    it that another dispatcher could have run.
    """

    #: Longest a prefetched job is expected to wait for a worker, seconds.
    PREFETCH_WAIT = 0.02
    #: Helpers that run shorter than this on average (seconds) are sent several to a message
    #: when many are handed over at once: fewer messages, fewer wake-ups. A worker that finds
    #: one job of a batch slow puts the rest back for the others (see worker.py).
    BATCH_RUN = 0.001
    BATCH_MAX = 32

    def __init__(self, size: int, *, dispatcher_id: str, env: dict[str, str] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, memory_limit_mb: int = 0,
                 lease: float = 0.0, prefetch: int = 0) -> None:
        self.size = size
        self.prefetch = prefetch
        self.dispatcher_id = dispatcher_id
        self.env = dict(env if env is not None else os.environ)
        self.env["QUEUECTL_DISPATCHER_PID"] = str(os.getpid())
        self.env["QUEUECTL_WORKER_MEMORY_MB"] = str(int(memory_limit_mb))
        self.env["QUEUECTL_LEASE"] = repr(float(lease))
        self.monotonic = monotonic
        self.selector = selectors.DefaultSelector()
        self.workers: dict[int, Worker] = {}  # result fd -> worker
        self.jobs: dict[int, Job] = {}  # seq -> job submitted and not finished
        self.cancelled: set[int] = set()
        self.seq = 0
        self.mean_run = 1.0  # moving average of helper run time, seconds (pessimistic until measured)
        self.measured = False
        self.preloaded: list[str] = []
        self.job_out, self.job_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for sock in (self.job_out, self.job_in):
            sock.set_inheritable(False)
        try:  # room for a burst of small messages without blocking the dispatcher
            self.job_out.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        except OSError:
            pass
        self.job_out.setblocking(False)
        self.outbox: list[bytes] = []  # messages the socket had no room for yet
        self.activity = 0  # event lines the last poll read (0: the workers were quiet)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        while len(self.workers) < self.size:
            self._spawn()

    def _spawn(self) -> Worker:
        worker = Worker(self.env, self.job_in.fileno())
        self.workers[worker.fd] = worker
        self.selector.register(worker.fd, selectors.EVENT_READ, worker)
        if self.preloaded:
            worker.send_preload(self.preloaded)
        return worker

    def _retire(self, worker: Worker, kill: bool) -> None:
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
        allowance = 0
        if self.prefetch:
            allowance = min(self.prefetch, int(self.size * self.PREFETCH_WAIT / max(self.mean_run, 1e-4)))
        return max(0, self.size + allowance - len(self.jobs))

    # -- work ---------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue a job for the next idle worker (it waits in the worker until `job.at`)."""
        self.submit_many([job])

    def submit_many(self, jobs: list[Job]) -> None:
        """Queue jobs for the idle workers; many fast ones share a message (see BATCH_RUN)."""
        if len(jobs) > self.free:
            raise RuntimeError("no free worker")
        for job in jobs:
            self.seq += 1
            job.seq = self.seq
        per_message = 1
        if self.mean_run < self.BATCH_RUN:
            # as many messages as there are cores to run them: more awake workers than cores only
            # take turns on the CPU (each message wakes one worker)
            lanes = max(1, min(self.size, os.cpu_count() or 1))
            per_message = max(1, min(self.BATCH_MAX, -(-len(jobs) // lanes)))
        for i in range(0, len(jobs), per_message):
            self._enqueue(jobs[i:i + per_message])

    def _enqueue(self, jobs: list[Job]) -> None:
        offset = time.monotonic() - self.monotonic()  # to the workers' clock
        parts = []
        for job in jobs:
            self.jobs[job.seq] = job
            parts.append(encode_job(job.seq, job.at, job.lease_mono + offset, job.execution_id, job.helper,
                                    job.source, job.execution_time, job.attempt, self.dispatcher_id))
        message = BATCH_SEP.join(parts)
        if not self.outbox:
            try:
                self.job_out.send(message)
                return
            except BlockingIOError:
                self.selector.register(self.job_out, selectors.EVENT_WRITE, self)
        self.outbox.append(message)

    def _flush_outbox(self) -> None:
        while self.outbox:
            try:
                self.job_out.send(self.outbox[0])
            except BlockingIOError:
                return
            self.outbox.pop(0)
        self.selector.unregister(self.job_out)

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
            elif worker is self:
                self._flush_outbox()
            else:
                results += self._collect(worker)
        results += self._enforce_timeouts()
        if len(self.workers) < self.size:
            self.start()  # replace a worker that died, timed out or retired
        return results

    def _collect(self, worker: Worker) -> list[Result]:
        lines, eof = worker.read_lines()
        self.activity += len(lines)
        results = []
        retire = False
        for line in lines:
            kind, _, rest = line.partition(b" ")
            if kind == b"T":
                worker.taken.update(int(seq) for seq in rest.split())
            elif kind == b"P":
                given = {int(seq) for seq in rest.split()}
                worker.taken -= given
                self._send_again(given)
            elif kind == b"S":
                worker.taken.discard(int(rest))
                job = self.jobs.get(int(rest))
                if job is None:
                    continue
                worker.job = job
                worker.deadline = self.monotonic() + job.timeout if job.timeout else None
                if job.seq in self.cancelled:  # retracted too late: it must not run
                    self._retire(worker, kill=True)
                    self.cancelled.discard(job.seq)
                    self.jobs.pop(job.seq, None)
                    return results
            elif kind == b"D":
                fields = rest.split(b" ", 4)
                self.cancelled.discard(int(fields[0]))
                job = self.jobs.pop(int(fields[0]), None)
                worker.job = None
                worker.deadline = None
                if job is None:
                    continue
                started, finished = float(fields[2]), float(fields[3])
                took = max(finished - started, 1e-5)
                # the first run replaces the guess; then a moving average that follows a change
                # of pace within a few runs (a slow helper stops the prefetch almost at once)
                self.mean_run = self.mean_run + (took - self.mean_run) * 0.2 if self.measured else took
                self.measured = True
                if fields[1] == b"1":
                    results.append(Result(job=job, ok=True, started=started, finished=finished))
                else:
                    error, reason = json.loads(fields[4]) if len(fields) > 4 else ("unknown error", None)
                    results.append(Result(job=job, ok=False, error=error, reason=reason, started=started,
                                          finished=finished))
            elif kind == b"R":
                worker.taken.discard(int(rest))
                job = self.jobs.pop(int(rest), None)
                if job is not None and job.seq not in self.cancelled:
                    results.append(Result(job=job, ok=False, handed_back=True, reason="not started",
                                          error="not started before its local lease ran out"))
                self.cancelled.discard(int(rest))
            elif kind == b"X":
                retire = True
        if eof or retire:
            job = worker.job
            self._retire(worker, kill=True)
            if job is not None:
                self.jobs.pop(job.seq, None)
                results.append(Result(job=job, ok=False, error=worker.exit_description(), reason="crashed"))
        return results

    def next_deadline(self) -> float | None:
        deadlines = [w.deadline for w in self.workers.values() if w.deadline is not None]
        return min(deadlines) if deadlines else None

    def _enforce_timeouts(self) -> list[Result]:
        now = self.monotonic()
        results = []
        for worker in list(self.workers.values()):
            if worker.deadline is not None and now >= worker.deadline and worker.job is not None:
                job = worker.job
                self._retire(worker, kill=True)
                self.jobs.pop(job.seq, None)
                results.append(Result(job=job, ok=False, reason="timeout",
                                      error=f"timeout: still running after {job.timeout:g} s, killed"))
        return results

    def drain(self) -> list[Job]:
        """Take back every job no worker has picked up yet (they have not started)."""
        messages = list(self.outbox)
        if self.outbox:
            self.outbox.clear()
            self.selector.unregister(self.job_out)
        while True:
            try:
                messages.append(self.job_in.recv(65536, socket.MSG_DONTWAIT))
            except BlockingIOError:
                break
        taken = [int(part.split(b"\0", 1)[0]) for message in messages for part in message.split(BATCH_SEP)]
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
        self.job_out.close()
        self.job_in.close()
        self.selector.close()
