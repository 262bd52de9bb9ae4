"""Fixtures for the HTTP API tests: the FastAPI app in-process (TestClient) on the test Redis,
next to the CLI fixtures (tests/cli/conftest.py), so a test can compare the API with `--json`;
and `served`, the real `queuectl serve` as a subprocess (what a stream needs: TestClient reads
a whole body before it answers).

The CLI fixtures are loaded from their file by path under another module name (a conftest is
never imported by name: tests/conftest.py and tests/cli/conftest.py would shadow each other).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import CHECKIN, NIGHTLY, TOKEN
from fastapi.testclient import TestClient

import support
from redis_server import free_port

_CLI_CONFTEST = Path(__file__).parent.parent / "cli" / "conftest.py"
_spec = importlib.util.spec_from_file_location("queuectl_cli_fixtures", _CLI_CONFTEST)
assert _spec is not None and _spec.loader is not None
_cli_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _cli_fixtures  # dataclasses look their module up there
_spec.loader.exec_module(_cli_fixtures)

cli = _cli_fixtures.cli
helpers_dir = _cli_fixtures.helpers_dir
make_helper = _cli_fixtures.make_helper
register = _cli_fixtures.register
core_app = _cli_fixtures.core_app
seeder = _cli_fixtures.seeder
raw_client = _cli_fixtures.raw_client
snapshot = _cli_fixtures.snapshot


@pytest.fixture()
def make_api(core_app: Any) -> Iterator[Callable[..., TestClient]]:
    """make_api(token=TOKEN, host="127.0.0.1", core=core_app) -> a TestClient of the API."""
    from queuectl.api.app import create_app

    clients: list[TestClient] = []

    def make(*, token: str | None = TOKEN, host: str = "127.0.0.1", core: Any = None) -> TestClient:
        client = TestClient(create_app(core or core_app, token=token, host=host), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture()
def api(make_api: Callable[..., TestClient]) -> TestClient:
    """The API as `queuectl serve` builds it on 127.0.0.1, with a token configured."""
    return make_api()


@pytest.fixture()
def two_helpers(make_helper: Callable[..., Path], register: Callable[[], Any]) -> Any:
    """checkIn (every 10 min, enabled) and nightly (daily 19:00, disabled), registered and planned."""
    make_helper("checkIn", CHECKIN)
    make_helper("nightly", NIGHTLY)
    return register()


@pytest.fixture()
def served(redis_url, helpers_dir, tmp_path, two_helpers):
    """`queuectl serve` on a free loopback port, the token in a file; yields (port, process)."""
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = support.queuectl_env(redis_url, helpers_dir, tmp_path)
    env.pop("QUEUECTL_API_TOKEN", None)
    proc = support.QueuectlProcess(
        ["serve", "--port", str(port), "--token-file", str(token_file)],
        env,
        tmp_path,
        tmp_path / "serve.out",
        tmp_path / "serve.err",
    )
    try:
        assert proc.wait_for_text(lambda: (tmp_path / "serve.err").read_text(), f":{port}/", 20), (
            tmp_path / "serve.err"
        ).read_text()
        assert support.wait_until(lambda: _answers(port), timeout=10), (tmp_path / "serve.err").read_text()
        yield port, proc
    finally:
        proc.close()
    log = (tmp_path / "serve.err").read_text()
    assert TOKEN not in log
    assert "Traceback" not in log


def _answers(port: int) -> bool:
    result = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/openapi.json"],
        capture_output=True,
        text=True,
    )
    return result.stdout == "200"
