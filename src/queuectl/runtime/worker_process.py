"""One worker process of the pool, seen from the dispatcher: how it is started, its result pipe,
the job it runs, and how it is killed (its whole process group: helpers may have forked).

Each worker is a long-lived child (`python -m queuectl.runtime.worker`) in its own session, killed
with the dispatcher (PR_SET_PDEATHSIG), running one execution at a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from queuectl.infra.process import kill_group, term_with_parent
from queuectl.runtime import protocol
from queuectl.store.scripts import Claimed


@dataclass(kw_only=True, slots=True)
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
    expiry: int = 0  # executionExpiry: a retry must start by executionTime + expiry
    seq: int = 0  # the pool's number for it, in the job messages and the workers' events

    def message(self, dispatcher: str, *, clock_offset: float) -> protocol.JobMessage:
        """What the worker is sent; `clock_offset` turns the dispatcher's monotonic time (its
        injectable clock) into the worker's."""
        return protocol.JobMessage(
            self.seq,
            self.at,
            self.lease_mono + clock_offset,
            self.execution_id,
            self.helper,
            self.source,
            self.execution_time,
            self.attempt,
            dispatcher,
        )

    @classmethod
    def of_claim(cls, claimed: Claimed, *, source: str, timeout: float | None, now: float) -> Job:
        """The job of a claim made at `now`: one claimed ahead of its second waits for it."""
        return cls(
            execution_id=claimed.execution_id,
            helper=claimed.helper,
            source=source,
            execution_time=claimed.execution_time,
            attempt=claimed.attempt,
            token=claimed.token,
            timeout=timeout,
            expiry=claimed.expiry,
            at=float(claimed.due) if claimed.due > now else 0.0,
        )


@dataclass(kw_only=True, slots=True)
class Result:
    job: Job
    ok: bool
    error: str | None = None
    reason: str | None = None
    started: float | None = None
    finished: float | None = None
    handed_back: bool = False  # never started (its local lease ran out first): release the claim


@dataclass(frozen=True, kw_only=True)
class WorkerArgs:
    """What every worker of a pool is started with."""

    dispatcher_pid: int  # the worker kills its process group when this process goes away
    lease: float  # the claim lease: a worker stops its helper when the dispatcher is frozen too long
    memory_limit_mb: int = 0  # address-space cap of the helper's process; 0 = none

    def argv(self, job_fd: int, result_fd: int) -> list[str]:
        return [
            sys.executable,
            "-P",
            "-m",
            "queuectl.runtime.worker",
            str(job_fd),
            str(result_fd),
            "--dispatcher-pid",
            str(self.dispatcher_pid),
            "--lease",
            repr(float(self.lease)),
            "--memory-limit-mb",
            str(int(self.memory_limit_mb)),
        ]


class WorkerProcess:
    """One child process, its result pipe and the job it is running."""

    def __init__(self, args: WorkerArgs, env: dict[str, str], job_fd: int) -> None:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            args.argv(job_fd, write_fd),
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
