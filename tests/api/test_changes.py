"""The change endpoints: enable, disable, update (PUT), reset; and their refusals, which leave
Redis byte-identical."""

from __future__ import annotations

import json

import pytest
from api_support import AUTH, DOCUMENT_BODY

import support

pytestmark = pytest.mark.usefixtures("two_helpers")


def test_disable_then_enable(api, client):
    assert support.queued(client, "checkIn")
    response = api.post("/helpers/checkIn/disable", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["helper"] == "checkIn" and body["enabled"] is False and body["executions_removed"] >= 1
    assert support.queued(client, "checkIn") == []
    body = api.post("/helpers/checkIn/enable", headers=AUTH).json()
    assert body["helper"] == "checkIn" and body["enabled"] is True and body["executions_created"] >= 1
    assert len(support.queued(client, "checkIn")) == body["executions_created"]


def test_enable_answers_what_the_cli_prints(api, cli):
    body = api.post("/helpers/nightly/enable", headers=AUTH).json()
    cli_body = cli.json("helpers", "enable", "nightly")  # a second enable: nothing changes
    assert set(body) == set(cli_body)
    assert {k: v for k, v in body.items() if k not in ("changed", "executions_created")} == {
        k: v for k, v in cli_body.items() if k not in ("changed", "executions_created")
    }
    assert body["changed"] is True and cli_body["changed"] is False


def test_put_replaces_the_schedule(api, cli, client):
    body = {"schedule": {"type": "interval", "interval_minutes": 30, "priority": 2}}
    response = api.put("/helpers/checkIn", headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["helper"] == "checkIn"
    assert data["schedule"]["type"] == "interval" and data["schedule"]["interval_seconds"] == 1800
    assert data["schedule"]["priority"] == 2
    assert data["executions_removed"] >= 1 and data["executions_created"] >= 1
    shown = cli.json("helpers", "show", "checkIn")
    assert shown["schedule"]["interval_seconds"] == 1800 and shown["overridden"] is True
    assert len(support.queued(client, "checkIn")) == data["executions_created"]


def test_put_with_the_documents_body(api, client):
    data = api.put("/helpers/nightly", headers=AUTH, json=DOCUMENT_BODY).json()
    assert data["helper"] == "nightly"
    assert {k: data["schedule"][k] for k in ("type", "time", "priority", "expiry", "enabled")} == DOCUMENT_BODY[
        "schedule"
    ]
    assert data["executions_removed"] == 0
    assert data["executions_created"] == len(support.queued(client, "nightly"))  # 07:30 may be 2 h ahead or not


def test_reset_drops_the_override(api):
    api.post("/helpers/checkIn/disable", headers=AUTH)
    data = api.post("/helpers/checkIn/reset", headers=AUTH).json()
    assert data["helper"] == "checkIn" and data["overridden"] is False and data["enabled"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"schedule": {"type": "daily", "time": "99:99"}},
        {"schedule": {"type": "daily", "time": "08:00", "foo": 1}},
        {"schedule": {"type": "daily"}},
        {"schedule": {"type": "daily", "time": "08:00", "priority": True}},
        {"schedule": {"type": "cron", "cron": "* * *"}},
        {"schedule": {"type": "interval", "interval_seconds": 0}},
        {"schedule": {"type": "daily", "time": "08:00", "timezone": "Mars/Olympus"}},
    ],
)
def test_invalid_schedule_is_422_with_the_cli_message_and_changes_nothing(api, cli, snapshot, body):
    before = snapshot()
    response = api.put("/helpers/checkIn", headers=AUTH, json=body)
    assert response.status_code == 422
    message = response.json()["error"]
    assert "\n" not in message
    assert snapshot() == before
    result = cli("helpers", "update", "checkIn", "--config", json.dumps(body), check=2)
    assert result.stderr.strip() == f"Error: {message}"
    assert snapshot() == before


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"[]", b'{"schedule": "daily"}', b'{"schedule": {}, "extra": 1}', b"NaN", b"", b"[" * 5000],
)
def test_malformed_bodies_are_422(api, snapshot, raw):
    before = snapshot()
    response = api.put("/helpers/checkIn", headers={**AUTH, "Content-Type": "application/json"}, content=raw)
    assert response.status_code == 422, response.text
    assert "\n" not in response.json()["error"]
    assert snapshot() == before


def test_duplicate_keys_and_nan_are_refused(api, snapshot):
    before = snapshot()
    for raw in (
        '{"schedule": {"type": "daily", "type": "cron", "time": "08:00"}}',
        '{"schedule": {"type": "daily", "time": "08:00", "expiry": NaN}}',
    ):
        response = api.put("/helpers/checkIn", headers=AUTH, content=raw.encode())
        assert response.status_code == 422
    assert snapshot() == before


def test_bodies_over_64_kib_are_413(api, snapshot):
    before = snapshot()
    padding = " " * (64 * 1024)
    big = json.dumps(DOCUMENT_BODY) + padding  # valid JSON once stripped: refused for its size alone
    response = api.put("/helpers/checkIn", headers=AUTH, content=big.encode())
    assert response.status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        yield json.dumps(DOCUMENT_BODY).encode()
        for _ in range(20):
            yield b" " * 4096

    response = api.put("/helpers/checkIn", headers=AUTH, content=chunks())
    assert response.status_code == 413
    assert "error" in response.json()
    assert snapshot() == before
    just_under = (json.dumps(DOCUMENT_BODY) + " " * 1000).encode()
    assert api.put("/helpers/checkIn", headers=AUTH, content=just_under).status_code == 200


def test_changes_to_unknown_helpers_are_404(api):
    for method, path in [
        ("post", "/helpers/ghost/enable"),
        ("post", "/helpers/ghost/disable"),
        ("post", "/helpers/ghost/reset"),
        ("put", "/helpers/ghost"),
    ]:
        kwargs = {"json": DOCUMENT_BODY} if method == "put" else {}
        response = getattr(api, method)(path, headers=AUTH, **kwargs)
        assert response.status_code == 404, (path, response.text)
        assert "ghost" in response.json()["error"]
