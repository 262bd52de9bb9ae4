"""The embedded default server: started on demand, shared, persisted under the user's data dir,
stopped by `queuectl server stop` or after the idle time. Runs the real CLI as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import run_queuectl

pytestmark = pytest.mark.e2e


def cli(env: dict[str, str], *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return run_queuectl(*args, env=env, timeout=timeout)


@pytest.fixture()
def home_env(tmp_path: Path):
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "tick.py").write_text(
        "from queuectl import BaseHelper\n"
        "class Tick(BaseHelper):\n"
        "    name = 'tick'\n"
        "    def get_schedule_config(self):\n"
        "        return {'type': 'interval', 'interval_seconds': 60}\n"
        "    def run(self):\n"
        "        pass\n"
    )
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.pop("QUEUECTL_HOME", None)
    env["HOME"] = str(tmp_path / "home")
    env["XDG_DATA_HOME"] = ""
    env.pop("XDG_DATA_HOME")
    env["QUEUECTL_HELPERS_DIR"] = str(helpers)
    env["QUEUECTL_EMBEDDED_IDLE"] = "60"
    yield env
    cli(env, "server", "stop")


def test_state_is_shared_and_survives_a_server_restart(home_env: dict[str, str], tmp_path: Path) -> None:
    data_dir = tmp_path / "home" / ".local" / "share" / "queuectl"
    first = cli(home_env, "helpers", "sync")
    assert first.returncode == 0, first.stderr
    assert "started the embedded Redis" in first.stderr
    assert (data_dir / "redis.conf").exists()  # the socket may live elsewhere when this path is long

    run = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "run", "--tick", "0.2"],
        env=home_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)
        t0 = time.monotonic()
        disabled = cli(home_env, "helpers", "disable", "tick")
        assert disabled.returncode == 0, disabled.stderr
        assert time.monotonic() - t0 < 5
        status = json.loads(cli(home_env, "status", "--json").stdout)
        assert status["dispatcher"]["dispatcher_running"] is True
        assert status["backend"]["kind"] == "embedded"
        assert status["backend"]["data_dir"] == str(data_dir)
    finally:
        run.send_signal(2)
        run.wait(timeout=20)
    assert run.returncode == 0

    assert cli(home_env, "server", "stop").returncode == 0
    assert cli(home_env, "server", "status").returncode == 3
    assert any(p.name.startswith("appendonly") for p in data_dir.iterdir())

    # a new server on the same data: the operator's change is still there
    listed = cli(home_env, "helpers", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["tick"]["enabled"] is False and rows["tick"]["overridden"] is True
    # and a restarted dispatcher keeps the override
    once = cli(home_env, "run", "--once")
    assert once.returncode == 0, once.stderr
    rows = {r["name"]: r for r in json.loads(cli(home_env, "helpers", "list", "--json").stdout)}
    assert rows["tick"]["enabled"] is False


def test_queuectl_home_wins_and_port_6379_is_never_used(home_env: dict[str, str], tmp_path: Path) -> None:
    home_env["QUEUECTL_HOME"] = str(tmp_path / "qh")
    out = cli(home_env, "config", "--json")
    assert out.returncode == 0, out.stderr
    settings = {r["name"]: r for r in json.loads(out.stdout)["settings"]}
    assert "6379" not in str(settings["redis_url"]["value"])
    assert str(tmp_path / "qh") in settings["redis_url"]["value"]
    status = cli(home_env, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["backend"]["data_dir"] == str(tmp_path / "qh")


def test_idle_server_stops_by_itself(home_env: dict[str, str], tmp_path: Path) -> None:
    home_env["QUEUECTL_EMBEDDED_IDLE"] = "5"
    assert cli(home_env, "server", "start").returncode == 0
    assert cli(home_env, "server", "status").returncode == 0
    # every queuectl call counts as use, so look only once, after the idle time has passed
    time.sleep(9)
    assert cli(home_env, "server", "status").returncode == 3
