"""`queuectl top` driven in a real terminal (tmux, 80x24) against a real Redis and dispatcher: it
shows a helper's outcome, says when Redis is unreachable and recovers, quits on `q` and on
Ctrl-C with exit 0, and leaves the terminal as it found it.

Skipped when tmux is missing, unless QUEUECTL_REQUIRE_TMUX=1 (CI sets it).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redis_server import RedisServer
from support import queuectl_env

pytestmark = pytest.mark.e2e


def tmux_binary() -> str:
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("QUEUECTL_REQUIRE_TMUX") == "1":
            pytest.fail("tmux is not installed and QUEUECTL_REQUIRE_TMUX=1")
        pytest.skip("tmux is not installed (QUEUECTL_REQUIRE_TMUX=1 makes this a failure)")
    return found


class Terminal:
    """One tmux server of our own (its own socket), one 80x24 session without a status line."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.binary = tmux_binary()
        self.root = root
        self.socket = root / "tmux.sock"
        self.conf = root / "tmux.conf"
        self.conf.write_text("set -g status off\nset -g remain-on-exit off\n")
        self.env = env

    def tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [self.binary, "-S", str(self.socket), "-f", str(self.conf), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {args}: {result.stderr}")
        return result.stdout

    def start(self, name: str, argv: list[str]) -> Path:
        """Run `argv` in a new 80x24 session; then write its exit code and `stty -a` to files."""
        rc, stty = self.root / f"{name}.rc", self.root / f"{name}.stty"
        script = f"{shlex.join(argv)}; echo $? > {shlex.quote(str(rc))}; stty -a > {shlex.quote(str(stty))}; sleep 60"
        self.tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", name, "bash", "--norc", "-c", script)
        assert self.tmux("display-message", "-p", "-t", name, "#{pane_width}x#{pane_height}").strip() == "80x24"
        return rc

    def screen(self, name: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", name, check=False)

    def keys(self, name: str, *keys: str) -> None:
        self.tmux("send-keys", "-t", name, *keys)

    def wait_for(self, name: str, predicate, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(name)
            if predicate(text) or time.monotonic() > deadline:
                return text
            time.sleep(0.1)

    def close(self) -> None:
        self.tmux("kill-server", check=False)


def wait_file(path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    return ""


def stty_restored(path: Path) -> bool:
    """Canonical mode and echo are on again (cbreak turned both off)."""
    flags = wait_file(path, 5).split()
    return "icanon" in flags and "echo" in flags and "-icanon" not in flags and "-echo" not in flags


def test_top_live_outage_recovery_and_quit(e2e, tmp_path: Path):
    with RedisServer(root=tmp_path) as server:
        env = queuectl_env(server.url, e2e.helpers_dir, e2e.root)
        e2e.helper("topShow", {"type": "interval", "interval_seconds": 1})
        dispatcher = e2e.run_dispatcher("--tick", "0.2", env=env)
        term = Terminal(tmp_path, env)
        try:
            rc = term.start("top", [sys.executable, "-m", "queuectl", "top"])
            screen = term.wait_for("top", lambda s: "topShow" in s and "success" in s, timeout=10)
            assert "topShow" in screen and "success" in screen, screen
            lines = screen.splitlines()
            assert "queuectl top" in lines[0] and "q quits" in lines[0], screen  # nothing scrolled off
            for part in ("lateness p50", "/min", "DISPATCHER", "RUNNING", "NEXT DUE", "LAST OUTCOMES"):
                assert part in screen, (part, screen)
            assert "1/10" in screen or "0/10" in screen, screen  # the dispatcher's load

            server.stop()
            screen = term.wait_for("top", lambda s: "Redis unreachable since" in s, timeout=6)
            assert "Redis unreachable since" in screen, screen
            assert "LAST OUTCOMES" in screen  # the last data stays up

            server.start()
            screen = term.wait_for("top", lambda s: "unreachable" not in s, timeout=6)
            assert "unreachable" not in screen and "DISPATCHER" in screen, screen
            # a fresh outcome after the restart (the dispatcher re-seeds the emptied Redis)
            restarted = time.time()
            screen = term.wait_for(
                "top",
                lambda s: any(
                    "topShow" in line and "success" in line and _clock(line) >= restarted for line in s.splitlines()
                ),
                timeout=15,
            )
            assert any("topShow" in line and _clock(line) >= restarted for line in screen.splitlines()), screen

            term.keys("top", "q")
            assert wait_file(rc, 5) == "0", term.screen("top")
            assert stty_restored(tmp_path / "top.stty")
            assert "LAST OUTCOMES" not in term.screen("top")  # the alternate screen is gone
        finally:
            term.close()
            dispatcher.kill()


def _clock(line: str) -> float:
    """The HH:MM:SS of an outcome line (LAST OUTCOMES column) as today's time, else 0."""
    import re
    from datetime import datetime

    found = re.findall(r"\b(\d\d):(\d\d):(\d\d)\b", line)
    if not found:
        return 0.0
    h, m, s = (int(x) for x in found[-1])
    return datetime.now().replace(hour=h, minute=m, second=s, microsecond=0).timestamp() + 1


def test_top_ctrl_c_exits_0_and_restores_the_terminal(e2e, tmp_path: Path, redis_url: str):
    env = queuectl_env(redis_url, e2e.helpers_dir, e2e.root)
    term = Terminal(tmp_path, env)
    try:
        rc = term.start("ctrlc", [sys.executable, "-m", "queuectl", "top"])
        screen = term.wait_for("ctrlc", lambda s: "no dispatcher is running" in s, timeout=10)
        assert "no dispatcher is running" in screen, screen
        term.keys("ctrlc", "C-c")
        assert wait_file(rc, 5) == "0", term.screen("ctrlc")
        assert stty_restored(tmp_path / "ctrlc.stty")
        assert "Traceback" not in term.screen("ctrlc")
    finally:
        term.close()


def top_pid(term: Terminal, name: str) -> int:
    """The pid of `python -m queuectl top`, the child of the session's shell."""
    shell = int(term.tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def test_top_sigterm_exits_0_and_restores_the_terminal(e2e, tmp_path: Path, redis_url: str):
    env = queuectl_env(redis_url, e2e.helpers_dir, e2e.root)
    term = Terminal(tmp_path, env)
    try:
        rc = term.start("term", [sys.executable, "-m", "queuectl", "top"])
        screen = term.wait_for("term", lambda s: "no dispatcher is running" in s, timeout=10)
        assert "no dispatcher is running" in screen, screen
        os.kill(top_pid(term, "term"), signal.SIGTERM)
        assert wait_file(rc, 5) == "0", term.screen("term")
        assert stty_restored(tmp_path / "term.stty")
        assert "NEXT DUE" not in term.screen("term")
    finally:
        term.close()


def test_top_refuses_a_pipe(e2e):
    result = e2e.qctl("top")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "terminal" in result.stderr, result.stderr
