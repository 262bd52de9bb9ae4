"""Where the CLI connects, what it says when it cannot, and that it never prints a password.

Only loopback addresses are ever used: the test Redis on its free port, or a free loopback port
with nothing listening.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from redis_server import free_port

SECRET = "s3cretpw"

# every command that needs Redis, with arguments that pass validation
REDIS_COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["helpers", "list"],
    ["helpers", "list", "--json"],
    ["helpers", "show", "pulse"],
    ["helpers", "enable", "pulse"],
    ["helpers", "disable", "pulse", "--json"],
    ["helpers", "update", "pulse", "--priority", "2"],
    ["helpers", "reset", "pulse"],
    ["helpers", "sync"],
    ["queue", "show"],
    ["queue", "show", "--json"],
    ["history"],
    ["history", "--json", "--since", "2h"],
]


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture()
def dead_port() -> int:
    return free_port()  # a free loopback port, never 6379: nothing listens there


@pytest.fixture()
def with_helper(cli, make_helper):
    make_helper("pulse", {"type": "interval", "interval_seconds": 600})
    return cli


def _ids(commands):
    return [" ".join(c) for c in commands]


# ---------------------------------------------------------------------------------------------
# unreachable Redis


@pytest.mark.parametrize("argv", REDIS_COMMANDS, ids=_ids(REDIS_COMMANDS))
def test_unreachable_redis_exit_1_fast_one_line(with_helper, dead_port, argv):
    url = f"redis://127.0.0.1:{dead_port}/0"
    started = time.monotonic()
    result = with_helper(*argv, env=with_helper.env(REDIS_URL=url))
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert elapsed < 5, elapsed
    err = lines(result.stderr)
    assert len(err) == 1, result.stderr
    assert f"127.0.0.1:{dead_port}" in err[0]
    assert result.stdout == ""
    assert "Traceback" not in result.stdout + result.stderr


def test_unreachable_redis_given_by_flag(with_helper, dead_port):
    url = f"redis://127.0.0.1:{dead_port}/0"
    result = with_helper("--redis-url", url, "status", env=with_helper.env(REDIS_URL=None))
    assert result.exit_code == 1
    assert len(lines(result.stderr)) == 1 and f"127.0.0.1:{dead_port}" in result.stderr


# `run` against an unreachable Redis: exit 1 and exactly one stderr line (no shutdown noise).
def test_run_unreachable_redis_exit_1_one_line(with_helper, dead_port, restore_process_state):
    url = f"redis://127.0.0.1:{dead_port}/0"
    started = time.monotonic()
    result = with_helper("run", "--tick", "0.2", env=with_helper.env(REDIS_URL=url))
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout + result.stderr
    err = lines(result.stderr)
    assert len(err) == 1, result.stderr
    assert f"127.0.0.1:{dead_port}" in err[0]


def test_flag_wins_over_env(with_helper, dead_port, redis_url):
    dead = f"redis://127.0.0.1:{dead_port}/0"
    result = with_helper("--redis-url", redis_url, "queue", "show", "--json", env=with_helper.env(REDIS_URL=dead))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == []


# ---------------------------------------------------------------------------------------------
# passwords


@pytest.mark.parametrize(
    "argv",
    REDIS_COMMANDS + [["config"], ["config", "--json"]],
    ids=_ids(REDIS_COMMANDS + [["config"], ["config", "--json"]]),
)
@pytest.mark.parametrize("how", ["env", "flag"])
def test_password_never_printed_unreachable(with_helper, dead_port, argv, how):
    url = f"redis://:{SECRET}@127.0.0.1:{dead_port}/0"
    if how == "env":
        result = with_helper(*argv, env=with_helper.env(REDIS_URL=url))
    else:
        result = with_helper("--redis-url", url, *argv, env=with_helper.env(REDIS_URL=None))
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    if argv[0] != "config":
        assert result.exit_code == 1
        assert f"127.0.0.1:{dead_port}" in result.stderr


@pytest.mark.parametrize(
    "url_template",
    [
        "redis://:{secret}@127.0.0.1:{port}/0",
        "redis://default:{secret}@127.0.0.1:{port}/0",
        "redis://127.0.0.1:{port}/0?password={secret}",
    ],
)
def test_password_never_printed_debug_and_verbose(with_helper, dead_port, url_template, restore_process_state):
    url = url_template.format(secret=SECRET, port=dead_port)
    for argv in (["--debug", "status"], ["-v", "--debug", "helpers", "list", "--json"], ["-v", "run"]):
        result = with_helper(*argv, env=with_helper.env(REDIS_URL=url))
        assert result.exit_code == 1, (argv, result.stdout, result.stderr)
        assert SECRET not in result.stdout + result.stderr, argv


def test_password_never_printed_by_status_of_reachable_server(with_helper, redis_server):
    # the test server has no password; redis-py still sends AUTH, which this server accepts
    url = f"redis://:{SECRET}@127.0.0.1:{redis_server.port}/0"
    result = with_helper("status", "--json", env=with_helper.env(REDIS_URL=url))
    assert SECRET not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["backend"]["url"] == f"redis://:***@127.0.0.1:{redis_server.port}/0"


# A password in a malformed URL is masked too (anything before an '@' may be a password).
@pytest.mark.parametrize(
    "argv", [["status"], ["config"], ["config", "--json"]], ids=_ids([["status"], ["config"], ["config", "--json"]])
)
@pytest.mark.parametrize(
    "url_template",
    [
        "redis:/:{secret}@127.0.0.1:{port}/0",
        "redis//:{secret}@127.0.0.1:{port}/0",
        "redis:{secret}@127.0.0.1:{port}/0",
    ],
)
def test_password_never_printed_for_malformed_url(with_helper, dead_port, argv, url_template):
    url = url_template.format(secret=SECRET, port=dead_port)
    result = with_helper(*argv, env=with_helper.env(REDIS_URL=url))
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "url_template",
    [
        "http://:{secret}@127.0.0.1:{port}/0",
        "redis://:{secret}@127.0.0.1:notaport/0",
        "redis://:{secret}@127.0.0.1:99999/0",
    ],
)
def test_invalid_url_exit_2_one_line(with_helper, dead_port, url_template):
    url = url_template.format(secret=SECRET, port=dead_port)
    result = with_helper("status", env=with_helper.env(REDIS_URL=url))
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert len(lines(result.stderr)) == 1
    assert result.stdout == ""
    assert SECRET not in result.stderr
    assert "Traceback" not in result.stderr


# A URL urlsplit() cannot parse is bad input (exit 2), not an internal error.
def test_unparseable_url_is_bad_input(with_helper, dead_port):
    url = f"redis://:{SECRET}@[::1:{dead_port}/0"
    result = with_helper("status", env=with_helper.env(REDIS_URL=url))
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert "internal error" not in result.stderr


# ---------------------------------------------------------------------------------------------
# no Redis configured: the embedded default (commit 068eb52 replaced "exit 2" with this)


def test_no_redis_url_uses_the_embedded_default_never_a_network_redis(
    with_helper, tmp_path: Path, redis_server, client
):
    home = tmp_path / "qhome"
    env = with_helper.env(REDIS_URL=None, QUEUECTL_HOME=str(home), QUEUECTL_EMBEDDED_IDLE="5")
    client.set("marker-on-the-test-server", "1")
    try:
        result = with_helper("status", "--json", env=env)
        assert result.exit_code in (0, 3), (result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        data = json.loads(result.stdout)
        assert data["backend"]["kind"] == "embedded"
        assert data["backend"]["url"].startswith("unix://")
        assert str(home) in str(data["backend"]["data_dir"])
        assert "6379" not in result.stdout
        # it did not write into the test server (nor any TCP Redis)
        assert client.keys("*") == ["marker-on-the-test-server"]
        listed = with_helper("helpers", "list", "--json", env=env)
        assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    finally:
        stopped = with_helper("server", "stop", env=env)
        assert stopped.exit_code == 0, stopped.stderr
    after = with_helper("server", "status", "--json", env=env)
    assert json.loads(after.stdout)["running"] is False
