"""Process and data tooling for the fault-injection suite (and bench/soak.py).

- Side-effect helpers: files of helper classes whose run() appends `start <id> <pid> <time>` and
  `end <id> 0` to a log (one O_APPEND write each), with bodies that sleep, hang, raise, exit,
  crash, leak or fork a SIGTERM-proof child.
- Dispatcher: one `python -m queuectl run` in its own session, stderr to a file, driven with
  kill -9 / SIGSTOP / SIGCONT / SIGTERM by pid.
- Redis control: SIGSTOP/SIGCONT, restart, FLUSHALL, memory figures; a Sentinel set-up (master,
  replica, 3 sentinels) on free loopback ports.
Only 127.0.0.1 is ever used, never port 6379.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: redis_server.py, support.py

from queuectl.infra import process  # noqa: E402
from redis_server import RedisServer, free_port, redis_server_binary  # noqa: E402
from support import QueuectlProcess, helper_class, helper_class_name, helper_module, wait_until, write_file  # noqa: E402

HOST = "127.0.0.1"

# ---------------------------------------------------------------------------------------------
# Side-effect helpers

_IMPORTS = ("ctypes", "os", "signal", "sys", "time")

#: run() of a helper: `start <id> <pid> <time>`, the body, `end <id> 0`.
_RUN_BODY = """\
        _note("start %s %d %r" % (ctx.execution_id, os.getpid(), time.time()))
{body}
        _note("end %s 0" % ctx.execution_id)"""

#: Helper bodies by kind; `{seconds}` is filled from the spec.
BODIES: dict[str, str] = {
    "ok": "",
    "sleep": "time.sleep({seconds})",
    "hang": "while True:\n    time.sleep(3600)",
    # runs until killed and proves it is alive: `beat <id> <pid> <time>` every 0.1 s
    "beat": "while True:\n    _note('beat %s %d %r' % (ctx.execution_id, os.getpid(), time.time()))\n"
    "    time.sleep(0.1)",
    "raise": "raise RuntimeError('boom from %s' % ctx.execution_id)",
    "exit": "sys.exit(3)",
    "os_exit": "os._exit(7)",
    "segfault": "ctypes.string_at(0)",
    "leak": "hoard = []\nwhile True:\n    hoard.append(bytearray(16 * 1024 * 1024))",
    # a grandchild that ignores SIGTERM and logs its pid, then the helper sleeps (or hangs)
    "fork": textwrap.dedent("""\
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            _note("child %s %d" % (ctx.execution_id, os.getpid()))
            while True:
                time.sleep(3600)
        time.sleep({seconds})"""),
}

#: An occurrence that is due as soon as a dispatcher starts: the current hour's, 1 h expiry.
DUE_NOW = {"type": "interval", "interval_seconds": 3600, "expiry": 3600}


def every(seconds: int, **extra: Any) -> dict[str, Any]:
    return {"type": "interval", "interval_seconds": seconds, **extra}


def write_helpers(
    directory: Path,
    filename: str,
    log_path: Path,
    specs: Iterable[tuple[str, dict[str, Any], str] | tuple[str, dict[str, Any], str, float]],
) -> Path:
    """Write one file with a helper class per spec: (name, schedule, kind[, seconds])."""
    classes = []
    for n, spec in enumerate(specs):
        name, schedule, kind = spec[0], spec[1], spec[2]
        seconds = spec[3] if len(spec) > 3 else 0.2  # type: ignore[misc]
        body = BODIES[kind].format(seconds=seconds)
        body = textwrap.indent(body, " " * 8) if body else ""
        classes.append(helper_class(helper_class_name(name, f"H{n}_"), name, schedule, _RUN_BODY.format(body=body)))
    return write_file(directory, filename, helper_module(*classes, imports=_IMPORTS, log=log_path), atomic=True)


# ---------------------------------------------------------------------------------------------
# Processes


def alive(pid: int) -> bool:
    """os.kill(pid, 0) says so and it is not a zombie (where PID 1 does not reap, dead children
    stay as Z: they are dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    found = process.stat(pid)
    return found is not None and not found.gone


def thread_ids(pid: int) -> list[int]:
    """The thread ids of a process (empty when it is gone)."""
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def voluntary_switches(pid: int, tid: int) -> int | None:
    """How often a thread went to sleep (blocked) so far: a thread in a `sleep(p)` loop bumps it
    once per turn, which tells when it looks (used to find the worker watchdog's phase)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def kill_stray(pids: Iterable[int]) -> None:
    """SIGKILL leftover helper processes of a test (only ones running queuectl code)."""
    for pid in set(pids):
        if not alive(pid):
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"queuectl" in cmd:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Dispatcher(QueuectlProcess):
    """One `python -m queuectl run ...` in its own session; stdout+stderr in a file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log_file: Path) -> None:
        self.args = args
        self.log_file = log_file
        self.stopped = False
        super().__init__(["run", *args], env, cwd, log_file, append=True, new_session=True)

    # -- output -----------------------------------------------------------------------------
    @property
    def text(self) -> str:
        return self.log_file.read_text(errors="replace")

    def mark(self) -> int:
        """An offset into the output: `since(mark)` is what came after."""
        return self.log_file.stat().st_size

    def since(self, mark: int) -> str:
        with open(self.log_file, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def count(self, text: str, mark: int = 0) -> int:
        return self.since(mark).count(text)

    @property
    def dispatcher_id(self) -> str | None:
        for line in self.text.splitlines():
            if " dispatcher " in line and " starting" in line:
                return line.split(" dispatcher ", 1)[1].split()[0]
        return None

    def wait_for(self, text: str, timeout: float, mark: int = 0) -> bool:
        return self.wait_for_text(lambda: self.since(mark), text, timeout)

    def wait_ready(self, timeout: float = 20.0) -> Dispatcher:
        if not self.wait_for("dispatcher ready", timeout):
            raise AssertionError(f"dispatcher did not get ready\n{self.describe()}")
        return self

    def describe(self) -> str:
        return f"{self.headline()}\n{self.text[-6000:]}"

    # -- signals ----------------------------------------------------------------------------
    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        self.signal(signal.SIGSTOP)
        self.stopped = True

    def cont(self) -> None:
        self.signal(signal.SIGCONT)
        self.stopped = False

    def term(self) -> None:
        self.signal(signal.SIGTERM)

    def worker_pids(self) -> list[int]:
        return process.children(self.pid)

    def close(self) -> None:
        if self.stopped and self.popen.poll() is None:
            self.signal(signal.SIGCONT)
        super().close()


# ---------------------------------------------------------------------------------------------
# Redis


def redis_pid(server: RedisServer) -> int:
    assert server.proc is not None
    return server.proc.pid


def stall_redis(server: RedisServer, seconds: float) -> None:
    """SIGSTOP the server for `seconds`, then SIGCONT (always)."""
    pid = redis_pid(server)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


class Sentinels:
    """A master, one replica and three sentinels (`redis-server CONF --sentinel`), all on
    127.0.0.1 and free ports; `url` is the redis+sentinel:// URL of the set."""

    SERVICE = "mymaster"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []
        binary = redis_server_binary()
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports: list[int] = []
        for port, extra in ((self.master_port, []), (self.replica_port, ["--replicaof", HOST, str(self.master_port)])):
            d = Path(tempfile.mkdtemp(prefix=f"redis-{port}-", dir=root))
            self._spawn(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    HOST,
                    "--dir",
                    str(d),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--logfile",
                    str(d / "redis.log"),
                    *extra,
                ],
                port,
            )
        for _ in range(3):
            port = free_port()
            d = Path(tempfile.mkdtemp(prefix=f"sentinel-{port}-", dir=root))
            conf = d / "sentinel.conf"
            conf.write_text(
                textwrap.dedent(f"""\
                port {port}
                bind {HOST}
                dir {d}
                logfile {d / "sentinel.log"}
                sentinel monitor {self.SERVICE} {HOST} {self.master_port} 2
                sentinel down-after-milliseconds {self.SERVICE} 1000
                sentinel failover-timeout {self.SERVICE} 4000
                sentinel parallel-syncs {self.SERVICE} 1
                """)
            )
            self._spawn([binary, str(conf), "--sentinel"], port)
            self.sentinel_ports.append(port)

    def _spawn(self, args: list[str], port: int) -> None:
        import redis

        self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        c = redis.Redis(host=HOST, port=port, socket_timeout=1)
        if not wait_until(lambda: _pings(c), 10):
            raise RuntimeError(f"redis on {port} did not start")

    @property
    def url(self) -> str:
        return self.url_asking(0, 1, 2)

    def url_asking(self, *order: int) -> str:
        """The URL with the sentinels in this order (a client asks the first one first)."""
        hosts = ",".join(f"{HOST}:{self.sentinel_ports[i]}" for i in order)
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def sentinel(self, i: int = 0) -> Any:
        import redis

        return redis.Redis(host=HOST, port=self.sentinel_ports[i], decode_responses=True, socket_timeout=2)

    def master_port_now(self) -> int:
        host, port = self.sentinel().sentinel_get_master_addr_by_name(self.SERVICE)
        assert host == HOST, host
        return int(port)

    def client(self) -> Any:
        """A direct client of the current master."""
        import redis

        return redis.Redis(host=HOST, port=self.master_port_now(), decode_responses=True, socket_timeout=2)

    def wait_healthy(self, timeout: float = 15) -> bool:
        """Every sentinel sees the master, the replica (link up) and the two other sentinels."""

        def ok() -> bool:
            for i in range(3):
                try:
                    s = self.sentinel(i)
                    master = s.sentinel_master(self.SERVICE)
                    replicas = s.sentinel_slaves(self.SERVICE)
                except Exception:  # noqa: BLE001
                    return False
                if int(master.get("num-other-sentinels", 0)) < 2:
                    return False
                if not any(
                    r.get("master-link-status") == "ok" and "s_down" not in str(r.get("flags")) for r in replicas
                ):
                    return False
            return True

        return bool(wait_until(ok, timeout, 0.2))

    def sentinel_pid(self, i: int = 0) -> int:
        """The process of sentinel i (procs: master, replica, then the three sentinels)."""
        return self.procs[2 + i].pid

    def failover(self) -> int:
        """SENTINEL FAILOVER; returns the new master's port once the sentinels agree on it."""
        old = self.master_port_now()
        self.sentinel().execute_command("SENTINEL", "FAILOVER", self.SERVICE)
        if not wait_until(lambda: self.master_port_now() != old, 15, 0.1):
            raise AssertionError("failover did not happen")
        return self.master_port_now()

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)


class FailoverWatch:
    """Samples, every 5 ms in a thread, what a failover changes: each data server's role and
    connected replicas, and the master Sentinel (sentinel 1) names; `events` lists the changes with
    their time. `promoted_at` is when the replica turned master (the old master lost its replica),
    `named_at` when Sentinel first named another master."""

    def __init__(self, sentinels: Sentinels) -> None:
        import threading

        import redis

        self.sentinels = sentinels
        self.ports = {"old": sentinels.master_port, "new": sentinels.replica_port}
        self.clients = {
            name: redis.Redis(host=HOST, port=port, decode_responses=True, socket_timeout=1)
            for name, port in self.ports.items()
        }
        # not sentinel 0: a test may hold that one (the leader of a failover it asks for)
        self.sentinel = redis.Redis(
            host=HOST, port=sentinels.sentinel_ports[1], decode_responses=True, socket_timeout=0.5
        )
        self.events: list[tuple[float, str, Any]] = []
        self.last: dict[str, Any] = {}
        self.promoted_at: float | None = None
        self.named_at: float | None = None
        self.waits_at_promotion: int | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="failover-watch", daemon=True)
        self.thread.start()

    def wait_calls(self, name: str = "old") -> int:
        """WAIT commands the server has run so far (INFO commandstats)."""
        stats = self.clients[name].info("commandstats")
        return int(stats.get("cmdstat_wait", {}).get("calls", 0))

    def _note(self, what: str, value: Any) -> None:
        if self.last.get(what, object()) != value:
            self.last[what] = value
            self.events.append((time.time(), what, value))

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, client in self.clients.items():
                try:
                    info = client.info("replication")
                    self._note(name, (info["role"], int(info.get("connected_slaves", 0))))
                except Exception as exc:  # noqa: BLE001
                    self._note(name, type(exc).__name__)
            try:
                self._note("sentinel", int(self.sentinel.sentinel_get_master_addr_by_name(Sentinels.SERVICE)[1]))
            except Exception as exc:  # noqa: BLE001
                self._note("sentinel", type(exc).__name__)
            if self.promoted_at is None and self.last.get("new", ("",))[0] == "master":
                self.promoted_at = time.time()
                try:
                    self.waits_at_promotion = self.wait_calls()
                except Exception:  # noqa: BLE001
                    pass
            if self.named_at is None and self.last.get("sentinel") == self.ports["new"]:
                self.named_at = time.time()
            time.sleep(0.005)

    def timeline(self, since: float) -> str:
        return "\n".join(
            f"    {t - since:+7.3f}s {what} -> {value}" for t, what, value in self.events if t >= since - 1
        )

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False
