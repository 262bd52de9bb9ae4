"""A bounded pool of worker processes that run helpers in isolation (reliability R8).

Each worker is a long-lived child (`python -m queuectl.worker`) in its own session, killed with
the dispatcher (PR_SET_PDEATHSIG) and running one execution at a time. A helper that raises only
fails its execution; one that kills its process, hangs past its timeout or is abandoned gets its
worker's whole process group killed and a fresh worker takes the slot. Forking per execution
would cost a Python start-up per run; a pool keeps isolation and starts work in microseconds.
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("queuectl.executor")

_PR_SET_PDEATHSIG = 1


def _child_setup(sig: int = signal.SIGKILL) -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: the pool still kills children on exit
        pass


def _worker_setup() -> None:
    """Workers get SIGTERM when the dispatcher dies, and turn it into a kill of their whole
    process group (the helper's own children included); see worker.py."""
    _child_setup(signal.SIGTERM)


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
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Result:
    job: Job
    ok: bool
    error: str | None = None
    reason: str | None = None
    started: float | None = None
    finished: float | None = None


class Worker:
    """One child process and the job it is running."""

    def __init__(self, env: dict[str, str], dispatcher_id: str) -> None:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "queuectl.worker", str(write_fd)],
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
            start_new_session=True,
            preexec_fn=_worker_setup,
            env=env,
        )
        os.close(write_fd)
        self.fd = read_fd
        os.set_blocking(read_fd, False)
        self.buffer = b""
        self.job: Job | None = None
        self.deadline: float | None = None  # monotonic
        self.dispatcher_id = dispatcher_id

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, job: Job, now_mono: float) -> None:
        request = {"id": job.execution_id, "helper": job.helper, "source": job.source,
                   "time": job.execution_time, "attempt": job.attempt,
                   "dispatcher": self.dispatcher_id}
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        self.job = job
        self.deadline = now_mono + job.timeout if job.timeout else None

    def send_preload(self, sources: list[str]) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps({"preload": sources}) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # a dead worker is noticed and replaced by the pool

    def read_lines(self) -> tuple[list[dict[str, Any]], bool]:
        """Complete result lines available now, and whether the worker closed its pipe."""
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
        lines = []
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip():
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    log.warning("[DISPATCHER] unreadable line from worker %s ignored", self.pid)
        return lines, eof

    def kill(self) -> None:
        """Kill the worker's whole process group (helpers may have forked)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
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
    """Up to `size` workers; `submit` gives a job to an idle one, `poll` collects outcomes."""

    def __init__(self, size: int, *, dispatcher_id: str, env: dict[str, str] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, memory_limit_mb: int = 0,
                 lease: float = 0.0) -> None:
        self.size = size
        self.dispatcher_id = dispatcher_id
        self.env = dict(env if env is not None else os.environ)
        self.env["QUEUECTL_DISPATCHER_PID"] = str(os.getpid())
        self.env["QUEUECTL_WORKER_MEMORY_MB"] = str(int(memory_limit_mb))
        self.env["QUEUECTL_LEASE"] = repr(float(lease))
        self.monotonic = monotonic
        self.selector = selectors.DefaultSelector()
        self.idle: list[Worker] = []
        self.busy: dict[int, Worker] = {}  # fd -> worker
        self.preloaded: list[str] = []
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        while len(self.idle) + len(self.busy) < self.size:
            self.idle.append(self._spawn())

    def _spawn(self) -> Worker:
        worker = Worker(self.env, self.dispatcher_id)
        self.selector.register(worker.fd, selectors.EVENT_READ, worker)
        if self.preloaded:
            worker.send_preload(self.preloaded)
        return worker

    def _retire(self, worker: Worker, kill: bool) -> None:
        try:
            self.selector.unregister(worker.fd)
        except (KeyError, ValueError):
            pass
        if kill:
            worker.kill()
        else:
            worker.close()

    def preload(self, sources: list[str]) -> None:
        """Have every worker import these helper files now, before their executions fall due
        (a file may define thousands of helpers; importing it at the due time costs lateness)."""
        self.preloaded = list(sources)
        for worker in list(self.idle) + list(self.busy.values()):
            worker.send_preload(self.preloaded)

    def wake(self) -> None:
        """Interrupt a `poll` from a signal handler."""
        try:
            os.write(self.wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    @property
    def free(self) -> int:
        return self.size - len(self.busy)

    @property
    def running(self) -> list[Job]:
        return [w.job for w in self.busy.values() if w.job is not None]

    # -- work ---------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if not self.idle:
            if len(self.busy) >= self.size:
                raise RuntimeError("no free worker")
            self.idle.append(self._spawn())
        worker = self.idle.pop()
        try:
            worker.send(job, self.monotonic())
        except (BrokenPipeError, OSError):
            # the idle worker died (killed from outside): replace it and try once more
            self._retire(worker, kill=True)
            worker = self._spawn()
            worker.send(job, self.monotonic())
        self.busy[worker.fd] = worker

    def poll(self, timeout: float | None) -> list[Result]:
        """Wait up to `timeout` seconds for outcomes (or a wake-up); enforce timeouts."""
        results: list[Result] = []
        deadline = self.next_deadline()
        if deadline is not None:
            left = max(0.0, deadline - self.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        events = self.selector.select(timeout=None if timeout is None else max(0.0, timeout))
        for key, _mask in events:
            worker = key.data
            if worker is None:
                try:
                    while os.read(self.wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            results += self._collect(worker)
        results += self._enforce_timeouts()
        return results

    def _collect(self, worker: Worker) -> list[Result]:
        lines, eof = worker.read_lines()
        results = []
        retire = False
        for line in lines:
            retire = retire or bool(line.get("retire"))
            job = worker.job
            if job is None or line.get("id") != job.execution_id:
                continue
            results.append(Result(job=job, ok=bool(line.get("ok")), error=line.get("error"),
                                  reason=line.get("reason"), started=line.get("started"),
                                  finished=line.get("finished")))
            worker.job = None
            worker.deadline = None
        if retire and not eof and worker.job is None:
            # the worker said it is exiting: never hand it another job
            self.busy.pop(worker.fd, None)
            self._retire(worker, kill=False)
            return results
        if eof:
            job = worker.job
            self.busy.pop(worker.fd, None)
            if worker in self.idle:  # a worker may exit right after its last answer
                self.idle.remove(worker)
            self._retire(worker, kill=True)
            if job is not None:
                results.append(Result(job=job, ok=False, error=worker.exit_description(), reason="crashed"))
        elif worker.job is None and worker.fd in self.busy:
            del self.busy[worker.fd]
            self.idle.append(worker)
        return results

    def next_deadline(self) -> float | None:
        deadlines = [w.deadline for w in self.busy.values() if w.deadline is not None]
        return min(deadlines) if deadlines else None

    def _enforce_timeouts(self) -> list[Result]:
        now = self.monotonic()
        results = []
        for fd, worker in list(self.busy.items()):
            if worker.deadline is not None and now >= worker.deadline and worker.job is not None:
                job = worker.job
                del self.busy[fd]
                self._retire(worker, kill=True)
                results.append(Result(job=job, ok=False, reason="timeout",
                                      error=f"timeout: still running after {job.timeout:g} s, killed"))
        return results

    def cancel(self, execution_id: str) -> Job | None:
        """Kill the worker running `execution_id` (its lease was lost); returns the job."""
        for fd, worker in list(self.busy.items()):
            if worker.job is not None and worker.job.execution_id == execution_id:
                job = worker.job
                del self.busy[fd]
                self._retire(worker, kill=True)
                return job
        return None

    def kill_all(self) -> list[Job]:
        """Kill every worker; returns the jobs that were still running."""
        jobs = [w.job for w in self.busy.values() if w.job is not None]
        for worker in list(self.busy.values()) + self.idle:
            self._retire(worker, kill=True)
        self.busy.clear()
        self.idle.clear()
        return jobs

    def close(self) -> None:
        for worker in self.idle:
            self._retire(worker, kill=False)
        self.idle.clear()
        for worker in list(self.busy.values()):
            self._retire(worker, kill=True)
        self.busy.clear()
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.selector.close()
