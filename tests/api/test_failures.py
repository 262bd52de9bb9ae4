"""Redis unreachable: 503 with one JSON line, quickly; anything unexpected: 500 with one line and
the traceback in the server log, never in the response."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from api_support import AUTH

from redis_server import free_port

PATHS = [
    ("get", "/helpers/"),
    ("get", "/helpers/checkIn"),
    ("get", "/helpers/status/system"),
    ("get", "/helpers/executions/queue?limit=10"),
    ("get", "/helpers/executions/history"),
    ("get", "/helpers/executions/checkIn:1796032800"),
    ("get", "/healthz"),
    ("post", "/helpers/checkIn/enable"),
    ("post", "/helpers/checkIn/disable"),
    ("post", "/helpers/checkIn/reset"),
    ("put", "/helpers/checkIn"),
]


@pytest.fixture()
def unreachable_core():
    """A core App whose Redis is a closed port, with the timeouts `queuectl serve` uses."""
    from queuectl.cli.serve import SOCKET_TIMEOUT
    from queuectl.infra.app import open_app
    from queuectl.infra.config import Settings

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    settings = Settings.with_defaults(redis_url=url, helpers_dir=Path("helpers"), timezone="UTC")
    core = open_app(settings, socket_timeout=SOCKET_TIMEOUT)
    yield core
    core.client.close()


@pytest.mark.parametrize("method,path", PATHS)
def test_redis_unreachable_is_503_within_5_s(make_api, unreachable_core, method, path):
    api = make_api(core=unreachable_core)
    kwargs = {"json": {"schedule": {"type": "daily", "time": "08:00"}}} if method == "put" else {}
    started = time.monotonic()
    response = getattr(api, method)(path, headers=AUTH, **kwargs)
    assert time.monotonic() - started < 5
    assert response.status_code == 503, response.text
    body = response.json()
    assert "\n" not in body["error"] and "127.0.0.1" in body["error"]
    assert "hunter2" not in response.text  # the password never leaves the server


def test_unexpected_errors_are_500_one_line_and_logged(make_api, monkeypatch, caplog, two_helpers):
    from queuectl.store import views

    def broken(core):
        raise RuntimeError("something deep\nwith a second line")

    monkeypatch.setattr(views, "helpers", broken)
    api = make_api()
    with caplog.at_level(logging.ERROR, logger="queuectl.api"):
        response = api.get("/helpers/")
    assert response.status_code == 500
    body = response.json()
    assert "\n" not in body["error"] and "RuntimeError" in body["error"]
    assert "Traceback" not in response.text and "something deep" not in response.text
    assert any(record.exc_info for record in caplog.records)


def test_unknown_paths_and_methods_are_json(api):
    response = api.get("/nope")
    assert response.status_code == 404 and "error" in response.json()
    response = api.delete("/helpers/checkIn", headers=AUTH)
    assert response.status_code == 405 and "error" in response.json()
