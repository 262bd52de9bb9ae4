"""Every command has help; --version; user errors never print a traceback."""

from __future__ import annotations

import json
import re

import pytest
import typer.main

import queuectl
from queuectl.cli import app as cli_app


def all_commands() -> list[tuple[list[str], object]]:
    """(path, click command) for the root, every sub-typer and every command, recursively."""
    root = typer.main.get_command(cli_app)
    out: list[tuple[list[str], object]] = []

    def walk(command: object, path: list[str]) -> None:
        out.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, path + [name])

    walk(root, [])
    return out


COMMANDS = all_commands()


def test_the_walk_finds_the_documented_commands():
    paths = {" ".join(p) for p, _ in COMMANDS}
    expected = {
        "",
        "run",
        "status",
        "history",
        "helpers",
        "queue",
        "queue show",
        "helpers sync",
        "helpers list",
        "helpers show",
        "helpers enable",
        "helpers disable",
        "helpers update",
        "helpers reset",
    }
    assert expected <= paths, expected - paths


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "queuectl" for p, _ in COMMANDS])
def test_every_command_has_help(cli, path, command):
    assert (getattr(command, "help", None) or getattr(command, "short_help", None) or "").strip(), path
    for param in getattr(command, "params", []):
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            assert (param.help or "").strip(), (path, param.name)
    result = cli(*path, "--help")
    assert result.exit_code == 0, (path, result.stdout, result.stderr)
    assert "Usage" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    if path:
        assert path[-1] in result.stdout


@pytest.mark.parametrize(
    "path",
    [p for p, c in COMMANDS if getattr(c, "commands", None)],
    ids=[" ".join(p) or "queuectl" for p, c in COMMANDS if getattr(c, "commands", None)],
)
def test_groups_without_a_command_show_usage(cli, path):
    result = cli(*path)
    assert result.exit_code in (0, 2)
    assert "Usage" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_version(cli):
    result = cli("--version", check=0)
    assert result.stdout.strip() == f"queuectl {queuectl.__version__}"
    assert re.fullmatch(r"queuectl \d+\.\d+\.\d+\S*", result.stdout.strip())


def test_version_needs_no_redis(cli):
    result = cli("--version", env={"REDIS_URL": None})
    assert result.exit_code == 0
    assert queuectl.__version__ in result.stdout


@pytest.fixture()
def registered(cli, make_helper, register):
    make_helper("pulse", {"type": "interval", "interval_seconds": 600})
    register()
    return cli


USER_ERRORS = [
    ["nosuchcommand"],
    ["helpers", "nosuchcommand"],
    ["helpers", "show"],
    ["helpers", "show", "ghost"],
    ["helpers", "enable", "ghost"],
    ["helpers", "update", "pulse"],
    ["helpers", "update", "pulse", "--priority", "x"],
    ["helpers", "update", "pulse", "--interval-minutes", "abc"],
    ["helpers", "update", "pulse", "--config", "{"],
    ["helpers", "update", "pulse", "--time", "99:99"],
    ["queue", "show", "--limit", "-1"],
    ["history", "--status", "nope"],
    ["history", "--since", "yesterday"],
    ["history", "--limit", "x"],
    ["run", "--tick", "0"],
    ["run", "--concurrency", "0"],
    ["run", "--window", "abc"],
    ["--redis-url"],
]


@pytest.mark.parametrize("argv", USER_ERRORS, ids=[" ".join(a) for a in USER_ERRORS])
def test_user_errors_exit_2_without_traceback(registered, argv):
    result = registered(*argv)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip()


def test_json_outputs_are_plain_json(registered):
    for argv in (
        ["helpers", "list", "--json"],
        ["queue", "show", "--json"],
        ["history", "--json"],
        ["helpers", "show", "pulse", "--json"],
    ):
        result = registered(*argv, check=0)
        json.loads(result.stdout)
        assert "\x1b" not in result.stdout


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["table", "json"])
def test_a_reader_that_goes_away_is_not_an_error(client, redis_url, tmp_path, json_flag):
    """`queuectl queue show | head -1`: the reader has gone before the command prints (closed here
    before the command has even started up); the command stops quietly, exit 0, nothing on stderr."""
    import os
    import subprocess
    import sys

    client.zadd("internalExecutionQueue", {f"many:{1796000000 + i}": (1796000000 + i) * 10 + 3 for i in range(5000)})
    env = {**os.environ, "REDIS_URL": redis_url, "NO_COLOR": "1", "QUEUECTL_TIMEZONE": "UTC"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "queue", "show", "--limit", "5000", *json_flag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before a byte is written
    stderr = proc.stderr.read()
    assert proc.wait(30) == 0
    assert stderr == b""
