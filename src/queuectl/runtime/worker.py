"""The child process that runs helper code, one execution at a time.

Run as `python -m queuectl.runtime.worker JOB_FD RESULT_FD --dispatcher-pid PID --lease SECONDS
[--memory-limit-mb MB]` (runtime/worker_process.py builds the line). Jobs arrive on JOB_FD, the
pool's shared job socket (runtime/job_socket.py): a message holds one job, or several fast ones; a
worker that finds one of them slow gives the rest back. Control requests (preload) arrive as JSON
lines on stdin, whose end means the dispatcher is gone. Events go to RESULT_FD, this worker's own
pipe, so whatever a helper prints cannot corrupt them; runtime/protocol.py holds both halves of
the messages.

Anything a helper raises (SystemExit and KeyboardInterrupt included) becomes an error outcome;
a helper that kills the process (os._exit, a segfault) is noticed by the dispatcher from the
pipe's end after an `S` with no `D`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from queuectl.domain.lease import unrenewed_budget
from queuectl.infra import logs
from queuectl.infra.process import is_stopped, kill_group
from queuectl.runtime import protocol

MAX_ERROR = 2000
#: A job of a batch that runs longer than this (seconds) has the rest of its batch given back to
#: the pool, which sends them again to idle workers (see BatchGuard).
SLOW = 0.005


def clean_text(text: str, limit: int = MAX_ERROR) -> str:
    """One stored error text: control characters removed, bounded length."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    message = str(exc)
    if isinstance(exc, SystemExit):
        message = f"exit code {exc.code}" if exc.code is not None else "exit code None"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


#: (load_helper_class, ExecutionContext, call_run), imported on the first run (not at start-up)
_calls: tuple[Any, Any, Any] | None = None
#: The last execution time seen and its datetime: executions due together share one.
_when: tuple[int, datetime] = (0, datetime.fromtimestamp(0, tz=UTC))
#: Fields of this process's JSON log lines (infra/logs.py): the execution running now.
_log_context: dict[str, Any] = logs.context()


def _run(
    source: str,
    name: str,
    execution_id: str,
    execution_time: int,
    attempt: int,
    dispatcher: str,
    instances: dict[type, Any],
) -> tuple[bool, str | None, str | None]:
    """Run one execution; (ok, error text, reason)."""
    global _calls, _when
    try:
        if _calls is None:
            from queuectl.helper import ExecutionContext, call_run
            from queuectl.runtime.helper_loader import load_helper_class

            _calls = (load_helper_class, ExecutionContext, call_run)
        load_class, context, call = _calls
        cls = load_class(source, name)
        helper = instances.get(cls)
        if helper is None:
            helper = instances[cls] = cls()
        if _when[0] != execution_time:
            _when = (execution_time, datetime.fromtimestamp(execution_time, tz=UTC))
        ctx = context(
            execution_id=execution_id,
            helper=name,
            execution_time=_when[1],
            attempt=attempt,
            dispatcher_id=dispatcher or None,
        )
        # the helper's own JSON log lines name it (infra/logs.py)
        _log_context["dispatcher"], _log_context["execution_id"] = dispatcher, execution_id
        call(helper, ctx)
    except BaseException as exc:  # noqa: BLE001 - everything a helper raises is its error
        logging.getLogger(__name__).debug(
            "helper failed:\n%s", traceback.format_exc(), extra={"event": "helper_traceback"}
        )
        reason = "memory" if isinstance(exc, MemoryError) else None
        return False, clean_text(describe(exc)), reason
    return True, None, None


#: Seconds before a job's instant that a worker stops sleeping and spins (see `serve`).
SPIN = 0.0005

#: True while a helper runs (a plain flag the watchdog thread reads: an Event costs a lock per
#: job): a frozen dispatcher only costs the helper that is running.
_running = False


def _die_with_parent(parent: int, lease: float) -> None:
    """When the dispatcher dies (SIGTERM from PR_SET_PDEATHSIG, or a changed parent pid seen by a
    watchdog thread in case a helper replaced our handler), kill the whole process group so no
    helper process, nor anything it started, outlives the dispatcher."""
    import signal

    def kill_own_group(*_args: object) -> None:
        kill_group(os.getpgrp())

    signal.signal(signal.SIGTERM, kill_own_group)

    # A frozen dispatcher (SIGSTOP, a suspended job) cannot renew: if it froze just before a
    # renewal, its claim is certainly ours for the lease's unrenewed budget (domain/lease.py).
    # Stop the helper before that, allowing for two polling periods of lateness in seeing the
    # freeze and acting on it.
    poll = 0.05
    frozen_limit = unrenewed_budget(lease) - 4 * poll - 0.25

    def watch() -> None:
        stopped_since = None
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                kill_own_group()
            if lease > 0 and _running and is_stopped(parent):
                now = time.monotonic()
                stopped_since = stopped_since or now - poll  # it may have frozen just after our last look
                if now - stopped_since >= frozen_limit:
                    kill_own_group()
            else:
                stopped_since = None

    threading.Thread(target=watch, name="queuectl-parent-watch", daemon=True).start()


def preload(sources: list[str]) -> None:
    """Import helper files ahead of their executions; a file that fails is left for run time,
    where its execution gets the error."""
    from queuectl.runtime.helper_loader import preload_module

    for source in sources:
        try:
            preload_module(source)
        except BaseException:  # noqa: BLE001 - reported when an execution needs the file
            pass
    # the imported helpers live as long as the worker: keep them out of the collector's scans, so a
    # full collection (thousands of helper classes) does not land in the middle of a burst
    import gc

    gc.collect()
    gc.freeze()


#: Guards the hand-over between taking a job and the end of stdin (see `watch_control`).
_state = threading.Lock()
_busy = False
_closing = False


def watch_control() -> None:
    """Read control lines (preload) from stdin in a thread; the end of stdin means the dispatcher
    closed the pool: exit at once when idle, else after the running job."""
    global _closing
    buffer = b""
    fd = sys.stdin.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            with _state:
                _closing = True
                if not _busy:
                    os._exit(0)
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                request = json.loads(line)
                if "preload" in request:
                    preload(request["preload"])


class BatchGuard:
    """Gives the rest of a batch back to the dispatcher (a `P` line; the pool sends those jobs
    again, to idle workers) when one of its jobs runs longer than SLOW, while it is still
    running: jobs packed together never wait long behind a slow one. Only the pool ever sends a
    job, so a job is in one place at a time even if this worker dies at any moment: what it took
    (`T`) and neither started nor gave back, the pool sends again.

    The watching thread wakes only while a batch has jobs left (every SLOW seconds), never per
    job: a wake-up per job would cost more than the jobs themselves."""

    def __init__(self, out_fd: int) -> None:
        self.out_fd = out_fd
        self.lock = threading.Lock()
        self.batch: list[bytes] = []  # jobs still to run, last one first
        self.started: float | None = None  # monotonic start of the running job, None between jobs
        self.active = threading.Event()
        threading.Thread(target=self._watch, name="queuectl-batch-guard", daemon=True).start()

    def load(self, parts: list[bytes]) -> None:
        with self.lock:
            self.batch = parts[::-1]
        if parts:
            self.active.set()

    def next(self) -> bytes | None:
        with self.lock:
            return self.batch.pop() if self.batch else None

    def give_back(self) -> None:
        with self.lock:
            self._give_back()

    def _give_back(self) -> None:
        if self.batch:
            line = protocol.gave_back(self.batch).encode()
            self.batch = []
            try:
                os.write(self.out_fd, line)
            except OSError:
                pass  # the dispatcher is gone: its claims lapse and are reaped

    def _watch(self) -> None:
        while True:
            self.active.wait()
            time.sleep(SLOW)
            with self.lock:
                if not self.batch:
                    self.active.clear()
                    continue
                started = self.started
                if started is not None and time.monotonic() - started >= SLOW:
                    self._give_back()
                    self.active.clear()


def serve(jobs: socket.socket, out_fd: int) -> int:
    """Take jobs until the dispatcher goes away. The job socket stays blocking: a blocked recv is
    an exclusive wait, so one message wakes one idle worker. In a burst one write carries the
    outcome of a job and the start of the next."""
    global _busy, _running
    threading.Thread(target=watch_control, name="queuectl-control", daemon=True).start()
    guard = BatchGuard(out_fd)
    instances: dict[type, Any] = {}
    out: list[str] = []

    def flush() -> None:
        if out:
            os.write(out_fd, "".join(out).encode())
            out.clear()

    while True:
        part = guard.next()
        if part is None:
            try:
                message = jobs.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                flush()
                with _state:
                    _busy = False
                message = jobs.recv(65536)
            if not message:
                break  # the dispatcher closed the job socket
            parts = protocol.split_batch(message)
            out.append(protocol.took(parts))  # written before any of them can start
            part = parts.pop(0)
            guard.load(parts)
            with _state:
                if _closing:
                    guard.batch.append(part)
                    break
                _busy = True
        job = protocol.decode_job(part)
        seq = job.seq
        if job.at:
            instant = job.at
            wait = instant - time.time()
            if wait > 0:
                flush()
                # a sleep wakes up late by the timer slack and the scheduler's wake-up latency
                # (~0.3 ms typical here, more on a busy host): sleep until just before the
                # instant, then spin the rest (at most SPIN of CPU per start)
                if wait > SPIN:
                    time.sleep(wait - SPIN)
                while time.time() < instant:
                    pass
        if time.monotonic() >= job.not_after:
            out.append(protocol.not_started(seq))
            continue
        out.append(protocol.starting(seq))
        flush()
        guard.started = time.monotonic()
        _running = True
        started = time.time()
        try:
            ok, error, reason = _run(
                job.source, job.helper, job.execution_id, job.execution_time, job.attempt, job.dispatcher, instances
            )
        finally:
            _running = False
            guard.started = None
        finished = time.time()
        out.append(protocol.done(seq, ok=ok, started=started, finished=finished, error=error, reason=reason))
        if reason == "memory":  # a worker that ran out of memory is replaced
            out.append(protocol.EXITING)
            break
    try:
        flush()
    except OSError:
        pass
    guard.give_back()
    return 0


def main(argv: list[str]) -> int:
    """The worker's command line (runtime/worker_process.py's WorkerArgs writes it)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m queuectl.runtime.worker")
    parser.add_argument("job_fd", type=int)
    parser.add_argument("result_fd", type=int)
    parser.add_argument("--dispatcher-pid", type=int, required=True)
    parser.add_argument("--lease", type=float, required=True)
    parser.add_argument("--memory-limit-mb", type=int, default=0)
    args = parser.parse_args(argv[1:])
    _die_with_parent(args.dispatcher_pid, args.lease)
    level = os.environ.get("QUEUECTL_HELPER_LOG_LEVEL", "INFO")
    if os.environ.get("QUEUECTL_LOG_FORMAT") == "json":  # the dispatcher's format (cli/run.py)
        logging.basicConfig(level=level, handlers=[logs.handler("json", default_event="helper_log")])
    else:
        logging.basicConfig(
            level=level,
            stream=sys.stderr,
            format="%(asctime)s.%(msecs)03d %(levelname)-7s [HELPER] %(message)s",
            datefmt="%Y-%m-%d %H:%M:%S",
        )
    limit_mb = args.memory_limit_mb
    if limit_mb > 0:
        import resource

        # a helper that leaks past the cap gets MemoryError instead of eating the machine
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 1024 * 1024, limit_mb * 1024 * 1024))
    return serve(socket.socket(fileno=args.job_fd), args.result_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
