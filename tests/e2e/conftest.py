"""End-to-end fixtures: the real `python -m queuectl` as subprocesses against the test Redis.

Helpers written here append `start <execution_id> <time.time()>` / `end <execution_id>` to a log
file (O_APPEND, path baked into the helper file), so a test can see what really ran and when.
Every process a test starts is killed (by its own pid) when the test ends.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from redis_server import redis_cli_binary
from support import (
    QueuectlProcess,
    helper_class,
    helper_class_name,
    helper_module,
    queuectl_env,
    run_queuectl,
    wait_until,
    write_file,
)

#: run() of a helper: `start <execution_id> <time.time()>`, the body, `end <execution_id>`.
RUN_BODY = """\
        _note("start %s %r" % (ctx.execution_id, time.time()))
{body}
        _note("end %s" % ctx.execution_id)"""


@dataclass
class LogLine:
    kind: str  # "start" | "end"
    execution_id: str
    at: float | None  # time.time() when the helper started (start lines only)

    @property
    def helper(self) -> str:
        return self.execution_id.rpartition(":")[0]

    @property
    def scheduled(self) -> int:
        return int(self.execution_id.rpartition(":")[2])


class Proc(QueuectlProcess):
    """One background `python -m queuectl ...`, stdout and stderr in their own files."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, out_dir: Path, tag: str) -> None:
        self.args = args
        self.stdout_path = out_dir / f"{tag}.stdout"
        self.stderr_path = out_dir / f"{tag}.stderr"
        self.started = time.monotonic()
        super().__init__(args, env, cwd, self.stdout_path, self.stderr_path)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def wait_for_stderr(self, text: str, timeout: float) -> bool:
        return self.wait_for_text(lambda: self.stderr, text, timeout)

    def kill(self) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.headline()}\nstderr:\n{self.stderr}"


@dataclass
class E2E:
    redis_url: str
    redis_port: int
    root: Path
    client: Any
    procs: list[Proc] = field(default_factory=list)

    @property
    def helpers_dir(self) -> Path:
        return self.root / "helpers"

    @property
    def log_path(self) -> Path:
        return self.root / "helpers.log"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    def env(self, **extra: str | None) -> dict[str, str]:
        env = queuectl_env(self.redis_url, self.helpers_dir, self.root)
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    # -- processes ------------------------------------------------------------------------
    def start(self, *args: str, env: dict[str, str] | None = None) -> Proc:
        proc = Proc(list(args), env or self.env(), self.cwd, self.root, f"proc{len(self.procs)}")
        self.procs.append(proc)
        return proc

    def run_dispatcher(self, *args: str, ready_timeout: float = 10.0, env: dict[str, str] | None = None) -> Proc:
        """Start `queuectl run ARGS` and wait until it says it is ready."""
        proc = self.start("run", *args, env=env)
        if not proc.wait_for_stderr("dispatcher ready", ready_timeout):
            raise AssertionError("dispatcher did not get ready\n" + proc.describe())
        return proc

    def qctl(
        self, *args: str, timeout: float = 15.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one `queuectl ARGS` to completion."""
        return run_queuectl(*args, env=env or self.env(), timeout=timeout, cwd=self.cwd, stdin=subprocess.DEVNULL)

    def qjson(self, *args: str) -> Any:
        result = self.qctl(*args, "--json")
        assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def history(self, *args: str) -> list[dict[str, Any]]:
        return self.qjson("history", "--limit", "1000", *args)

    def redis_cli(self, *args: str) -> str:
        result = subprocess.run(
            [redis_cli_binary(), "-h", "127.0.0.1", "-p", str(self.redis_port), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def redis_hash(self, key: str) -> dict[str, str]:
        """`redis-cli HGETALL key`, read back as a dict ({} when there is no such hash)."""
        out = self.redis_cli("--no-raw", "HGETALL", key)
        # --no-raw quotes each value on its own numbered line: 1) "field" 2) "value" ...
        values = []
        for line in out.splitlines():
            _, _, quoted = line.partition(") ")
            if quoted:
                values.append(json.loads(quoted) if quoted.startswith('"') else quoted)
        return dict(zip(values[0::2], values[1::2]))

    def redis_zset(self, key: str) -> list[tuple[str, float]]:
        """`redis-cli ZRANGE key 0 -1 WITHSCORES`, as (member, score) pairs in order."""
        lines = self.redis_cli("--raw", "ZRANGE", key, "0", "-1", "WITHSCORES").splitlines()
        return [(member, float(score)) for member, score in zip(lines[0::2], lines[1::2])]

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()

    # -- helpers and their log ---------------------------------------------------------------
    def helper(
        self,
        name: str,
        schedule: dict[str, Any],
        *,
        body: str = "",
        filename: str | None = None,
        directory: Path | None = None,
    ) -> Path:
        """Write a helper that logs start/end; `body` runs between them (Python, any indent)."""
        code = textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 8) if body.strip() else ""
        text = helper_module(
            helper_class(helper_class_name(name), name, schedule, RUN_BODY.format(body=code)),
            imports=("os", "sys", "time"),
            log=self.log_path,
        )
        return write_file(directory or self.helpers_dir, filename or f"{name}.py", text, atomic=True)

    def log(self) -> list[LogLine]:
        try:
            text = self.log_path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for raw in text.splitlines():
            parts = raw.split()
            if len(parts) == 3 and parts[0] == "start":
                out.append(LogLine("start", parts[1], float(parts[2])))
            elif len(parts) == 2 and parts[0] == "end":
                out.append(LogLine("end", parts[1], None))
        return out

    def starts(self, helper: str | None = None) -> list[LogLine]:
        return [line for line in self.log() if line.kind == "start" and (helper is None or line.helper == helper)]

    def wait_until(
        self, predicate: Callable[[], Any], timeout: float, interval: float = 0.05, proc: Proc | None = None
    ) -> Any:
        return wait_until(predicate, timeout, interval, proc)


@pytest.fixture()
def e2e(redis_server, client, tmp_path: Path) -> Iterator[E2E]:
    (tmp_path / "cwd").mkdir()
    (tmp_path / "helpers").mkdir()
    env = E2E(redis_url=redis_server.url, redis_port=redis_server.port, root=tmp_path, client=client)
    try:
        yield env
    finally:
        env.close()


def daily_time(at_epoch: int) -> str:
    """HH:MM:SS in UTC of an instant, for a daily schedule with timezone UTC."""
    return datetime.fromtimestamp(at_epoch, tz=UTC).strftime("%H:%M:%S")


@pytest.fixture()
def daily_at() -> Callable[[int], str]:
    return daily_time
