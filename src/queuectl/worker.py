"""The child process that runs helper code, one execution at a time.

Run as `python -m queuectl.worker RESULT_FD`. Requests arrive as JSON lines on stdin; one JSON
line per outcome goes to RESULT_FD, so whatever a helper prints on stdout cannot corrupt the
protocol. Anything a helper raises (SystemExit and KeyboardInterrupt included) becomes an
`error` outcome; a helper that kills the process (os._exit, a segfault) is noticed by the
dispatcher, which records the error and starts a new worker.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from typing import Any

MAX_ERROR = 2000


def clean_text(text: str, limit: int = MAX_ERROR) -> str:
    """One stored error text: control characters removed, bounded length."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    message = str(exc)
    if isinstance(exc, SystemExit):
        message = f"exit code {exc.code}" if exc.code is not None else "exit code None"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def run_one(request: dict[str, Any], instances: dict[type, Any]) -> dict[str, Any]:
    from .discovery import load_helper_class
    from .helper import ExecutionContext, call_run

    started = time.time()
    try:
        cls = load_helper_class(request["source"], request["helper"])
        helper = instances.get(cls)
        if helper is None:
            helper = instances[cls] = cls()
        ctx = ExecutionContext(
            execution_id=request["id"],
            helper=request["helper"],
            execution_time=datetime.fromtimestamp(request["time"], tz=timezone.utc),
            attempt=int(request.get("attempt", 1)),
            dispatcher_id=request.get("dispatcher"),
        )
        call_run(helper, ctx)
    except BaseException as exc:  # noqa: BLE001 - everything a helper raises is its error
        logging.getLogger("queuectl.worker").debug("helper failed:\n%s", traceback.format_exc())
        reason = "memory" if isinstance(exc, MemoryError) else None
        return {"id": request["id"], "ok": False, "error": clean_text(describe(exc)), "reason": reason,
                "started": started, "finished": time.time()}
    return {"id": request["id"], "ok": True, "started": started, "finished": time.time()}


#: Set while a helper runs: a frozen dispatcher only costs the helper that is running.
RUNNING = threading.Event()


def _stopped(pid: int) -> bool:
    """Is the process stopped (state T)? Linux only; elsewhere never."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def _die_with_parent(parent: int) -> None:
    """When the dispatcher dies (SIGTERM from PR_SET_PDEATHSIG, or a changed parent pid seen by a
    watchdog thread in case a helper replaced our handler), kill the whole process group so no
    helper process, nor anything it started, outlives the dispatcher."""
    import signal
    import threading

    def kill_group(*_args: object) -> None:
        os.killpg(os.getpgrp(), signal.SIGKILL)

    signal.signal(signal.SIGTERM, kill_group)

    lease = float(os.environ.get("QUEUECTL_LEASE", "0") or 0)

    # A frozen dispatcher (SIGSTOP, a suspended job) cannot renew: if it froze just before a
    # renewal, its lease in Redis has 2/3 of its length left. Stop the helper before that, allowing
    # for two polling periods of lateness in seeing the freeze and acting on it.
    poll = 0.05
    frozen_limit = lease * 2 / 3 - 4 * poll - 0.25

    def watch() -> None:
        stopped_since = None
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                kill_group()
            if lease > 0 and RUNNING.is_set() and _stopped(parent):
                now = time.monotonic()
                stopped_since = stopped_since or now - poll  # it may have frozen just after our last look
                if now - stopped_since >= frozen_limit:
                    kill_group()
            else:
                stopped_since = None

    threading.Thread(target=watch, name="queuectl-parent-watch", daemon=True).start()


def preload(sources: list[str]) -> None:
    """Import helper files ahead of their executions; a file that fails is left for run time,
    where its execution gets the error."""
    from .discovery import preload_module

    for source in sources:
        try:
            preload_module(source)
        except BaseException:  # noqa: BLE001 - reported when an execution needs the file
            pass


def main(argv: list[str]) -> int:
    result_fd = int(argv[1])
    _die_with_parent(int(os.environ.get("QUEUECTL_DISPATCHER_PID", "0")) or os.getppid())
    logging.basicConfig(level=os.environ.get("QUEUECTL_HELPER_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s.%(msecs)03d %(levelname)-7s [HELPER] %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    limit_mb = int(os.environ.get("QUEUECTL_WORKER_MEMORY_MB", "0") or 0)
    if limit_mb > 0:
        import resource

        # a helper that leaks past the cap gets MemoryError instead of eating the machine
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 1024 * 1024, limit_mb * 1024 * 1024))
    instances: dict[type, Any] = {}
    out = os.fdopen(result_fd, "w", buffering=1)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        request = json.loads(line)
        if "preload" in request:
            preload(request["preload"])
            continue
        RUNNING.set()
        try:
            result = run_one(request, instances)
        finally:
            RUNNING.clear()
        retire = result.get("reason") == "memory"  # a worker that ran out of memory is replaced
        if retire:
            result["retire"] = True  # tells the pool not to hand this worker another job
        out.write(json.dumps(result) + "\n")
        out.flush()
        if retire:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
