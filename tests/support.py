"""Test support shared by every test folder: helper files, `queuectl` subprocesses, polling, and
small Redis and thread utilities.

Imported as `support` (tests/ is on sys.path, as for redis_server.py): test folders have their own
conftest.py, and whichever pytest imported last owns the module name `conftest`, so nothing is
imported from a conftest by name. Only 127.0.0.1 is ever used, never port 6379.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: The `clock` fixture's start: Monday 2026-11-30 10:00:00 UTC.
NOW = 1796032800

# ---------------------------------------------------------------------------------------------
# Helper files

#: Defines `_note(text)`: one O_APPEND write of a line to the log file LOG.
_NOTE_FUNCTION = """\
LOG = {log!r}


def _note(text):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\\n").encode())
    finally:
        os.close(fd)
"""


def write_file(directory: Path, filename: str, text: str, *, atomic: bool = False) -> Path:
    """Write `text` to directory/filename (creating the directory). `atomic`: through a .tmp file
    and a rename, so a dispatcher watching the directory never sees it half-written."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    if atomic:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    else:
        path.write_text(text)
    return path


def write_helper(directory: Path, filename: str, body: str) -> Path:
    """Write a helper file (the body is dedented Python)."""
    return write_file(directory, filename, textwrap.dedent(body))


def helper_class_name(name: str, prefix: str = "H_") -> str:
    """A class name made from a helper name (anything but letters and digits becomes `_`)."""
    return prefix + "".join(ch if ch.isalnum() else "_" for ch in name)


def helper_class(cls: str, name: str, schedule: dict[str, Any], run_body: str, *, run_params: str = "self, ctx") -> str:
    """The source of one BaseHelper subclass; `run_body` is run()'s code, already indented 8 spaces."""
    return (
        f"class {cls}(BaseHelper):\n"
        f"    name = {name!r}\n\n"
        "    def get_schedule_config(self):\n"
        f"        return {schedule!r}\n\n"
        f"    def run({run_params}):\n"
        f"{run_body}\n"
    )


def helper_module(*classes: str, imports: Iterable[str] = (), log: str | os.PathLike[str] | None = None) -> str:
    """The source of a helper file: `import` lines, BaseHelper, with `log` a `_note(text)` function
    that appends to that file, then the classes (from helper_class)."""
    head = "".join(f"import {module}\n" for module in imports)
    if head:
        head += "\n"
    head += "from queuectl import BaseHelper\n"
    if log is not None:
        head += "\n" + _NOTE_FUNCTION.format(log=str(log))
    return head + "".join("\n\n" + cls for cls in classes)


def helper_source(name: str, config: dict, class_name: str = "H") -> str:
    """A file with one helper whose run() does nothing."""
    return helper_module(helper_class(class_name, name, config, "        return None", run_params="self"))


def add_helper(directory: Path, name: str, config: dict, class_name: str = "H") -> Path:
    """Write helper_source(...) to <name>.py ('.' and '-' in the name become '_')."""
    filename = f"{name.replace('.', '_').replace('-', '_')}.py"
    return write_helper(directory, filename, helper_source(name, config, class_name))


# ---------------------------------------------------------------------------------------------
# Redis state through the core


def register(app: Any, directory: Path, *, plan: bool = True) -> Any:
    """Discover (in process) and register a helpers dir, as `helpers sync` does."""
    from queuectl.runtime import discovery
    from queuectl.store import control

    return control.register(app, discovery.discover_in_process(directory, default_timezone="UTC"), directory, plan=plan)


def plan_catalog(app: Any) -> Any:
    """Plan the window of every helper in the catalog as it is in Redis now (what each
    dispatcher does with its own copy of the catalog)."""
    from queuectl.store import catalog, planner

    return planner.plan(
        app.scripts,
        catalog.read_all(app.client).values(),
        now=app.clock.time(),
        window=app.settings.window,
        history_ttl=app.settings.history_ttl,
    )


def live_dispatcher(client: Any, dispatcher_id: str = "testhost-1-abcd", *, ttl: float = 60) -> None:
    """A heartbeat as a running dispatcher writes it (through the core's own writer), alive for
    `ttl` seconds, with no process behind it."""
    from queuectl.store import dispatchers

    now = time.time()
    heartbeat = dispatchers.Heartbeat(
        dispatcher_id=dispatcher_id, host="testhost", pid=1, version="0", started_at=now - 5, running=0, concurrency=4
    )
    dispatchers.beat(client, heartbeat, now=now, ttl=ttl)


def queued(client: Any, helper: str | None = None) -> list[str]:
    """The execution queue in order, optionally only one helper's executions."""
    from queuectl.domain import keys

    ids = client.zrange(keys.EXECUTION_QUEUE, 0, -1)
    if helper is not None:
        ids = [i for i in ids if i.rpartition(":")[0] == helper]
    return ids


def ids_of(helper: str, times) -> list[str]:
    return [f"{helper}:{t}" for t in times]


def snapshot(client: Any) -> dict[str, bytes]:
    """{key: DUMP} of every key in the database."""
    return {k: client.dump(k) for k in sorted(client.keys("*"))}


def gather(client: Any, parties: int, timeout: float, who: str) -> None:
    """A start line across processes: count this one in, then wait until all `parties` are in."""
    client.incr("test:ready")
    deadline = time.monotonic() + timeout
    while int(client.get("test:ready") or 0) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the other {who} never started")
        time.sleep(0.001)


def start_and_join(threads: list[threading.Thread], timeout: float) -> None:
    """Start every thread, then join each (at most `timeout` seconds each)."""
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


# ---------------------------------------------------------------------------------------------
# Processes


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.05, proc: QueuectlProcess | None = None
) -> Any:
    """Poll until predicate() is truthy (returned) or the timeout passes (its last value). With
    `proc`, fail as soon as that process has ended."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError("the process ended early\n" + proc.describe())
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def queuectl_env(redis_url: str, helpers_dir: Path, root: Path) -> dict[str, str]:
    """This process's environment for a `queuectl` subprocess: the given Redis and helpers dir,
    UTC, no colour, unbuffered output, its data home under `root`."""
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": redis_url,
            "QUEUECTL_HELPERS_DIR": str(helpers_dir),
            "QUEUECTL_TIMEZONE": "UTC",
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
            "QUEUECTL_HOME": str(root / "qhome"),
        }
    )
    return env


def run_queuectl(*args: str, env: dict[str, str], timeout: float, **options: Any) -> subprocess.CompletedProcess[str]:
    """Run one `python -m queuectl ARGS` to completion, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "queuectl", *args], env=env, capture_output=True, text=True, timeout=timeout, **options
    )


class QueuectlProcess:
    """One background `python -m queuectl ARGV`, its output in files (no pipe can fill up): stdout
    to `out_path`, stderr to `err_path` (else into `out_path` too). Stopped by its own pid.
    `program`: what runs queuectl instead of `python -m queuectl` (e.g. the `queuectl` script)."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        out_path: Path,
        err_path: Path | None = None,
        *,
        append: bool = False,
        new_session: bool = False,
        program: list[str] | None = None,
    ) -> None:
        self.argv = argv
        mode = "ab" if append else "wb"
        self._files = [open(out_path, mode)]
        if err_path is not None:
            self._files.append(open(err_path, mode))
        program = program or [sys.executable, "-m", "queuectl"]
        self.popen = subprocess.Popen(
            [*program, *argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._files[0],
            stderr=self._files[1] if err_path is not None else subprocess.STDOUT,
            start_new_session=new_session,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def wait_for_text(self, read: Callable[[], str], text: str, timeout: float) -> bool:
        """Poll read() until it holds `text`; False after the timeout or once the process ended
        without it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in read():
                return True
            if self.popen.poll() is not None:
                return text in read()
            time.sleep(0.02)
        return False

    def headline(self) -> str:
        return f"queuectl {' '.join(self.argv)} (pid {self.pid}, rc {self.popen.poll()})"

    def describe(self) -> str:
        return self.headline()

    def close(self) -> None:
        """Kill it if it still runs (its workers die with it: PR_SET_PDEATHSIG), close the files."""
        if self.popen.poll() is None:
            self.popen.kill()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        for f in self._files:
            try:
                f.close()
            except OSError:
                pass
