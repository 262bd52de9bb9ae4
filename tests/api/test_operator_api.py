"""The operator endpoints: POST /helpers/{name}/run, POST /helpers/executions/{id}/cancel,
GET /audit, the execution timeline, and `reason` on every change (the audit trail's actor is
the token's name)."""

from __future__ import annotations

import pytest
from api_support import AUTH, TOKEN
from fastapi.testclient import TestClient

import support

pytestmark = pytest.mark.usefixtures("two_helpers")


def test_run_cancel_and_audit_over_http(api, cli, client):
    response = api.post("/helpers/checkIn/run", headers=AUTH, json={"priority": 2, "reason": "from CI"})
    assert response.status_code == 202, response.text
    record = response.json()
    execution_id = record["execution_id"]
    assert record["status"] == "queued" and record["trigger"] == "manual" and record["requested_by"] == "api"
    assert execution_id in support.queued(client, "checkIn")
    detail = api.get(f"/helpers/executions/{execution_id}").json()
    assert detail == cli.json("executions", "show", execution_id)
    assert [t["event"] for t in detail["timeline"]] == ["created", "due"]

    response = api.post(f"/helpers/executions/{execution_id}/cancel", headers=AUTH, json={"reason": "oops"})
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "cancelled"
    again = api.post(f"/helpers/executions/{execution_id}/cancel", headers=AUTH)
    assert again.status_code == 409 and "already finished" in again.json()["error"]
    assert api.post("/helpers/executions/checkIn:1/cancel", headers=AUTH).status_code == 404

    rows = api.get("/audit", params={"helper": "checkIn"}).json()
    assert [(r["action"], r["who"], r["via"], r["reason"]) for r in rows] == [
        ("cancel", "api", "api", "oops"),
        ("run", "api", "api", "from CI"),
    ]
    assert rows == cli.json("audit", "--helper", "checkIn")
    assert api.get("/audit", params={"limit": 0}).status_code == 422


def test_changes_take_a_reason_and_the_token_name(core_app, client):
    from queuectl.api.app import create_app

    with TestClient(create_app(core_app, token=TOKEN, token_name="deployer"), raise_server_exceptions=False) as api:
        assert api.post("/helpers/checkIn/disable", headers=AUTH, json={"reason": "maintenance"}).status_code == 200
        assert api.post("/helpers/checkIn/enable", headers=AUTH).status_code == 200
        body = {"schedule": {"type": "interval", "interval_minutes": 30}, "reason": "slower"}
        assert api.put("/helpers/checkIn", headers=AUTH, json=body).status_code == 200
        assert api.post("/helpers/checkIn/reset", headers=AUTH, content=b"").status_code == 200
        rows = api.get("/audit").json()
        assert [(r["action"], r["who"], r["reason"]) for r in rows] == [
            ("reset", "deployer", None),
            ("update", "deployer", "slower"),
            ("enable", "deployer", None),
            ("disable", "deployer", "maintenance"),
        ]
        assert rows[1]["after"]["interval_seconds"] == 1800
        assert api.get("/helpers/checkIn").json()["last_change"]["action"] == "reset"


def test_refusals_change_nothing(api, snapshot):
    before = snapshot()
    for path, kwargs, status in (
        ("/helpers/nosuch/run", {}, 404),
        ("/helpers/checkIn/run", {"json": {"priority": 9}}, 422),
        ("/helpers/checkIn/run", {"json": {"colour": "red"}}, 422),
        ("/helpers/checkIn/run", {"content": b"[1]"}, 422),
        ("/helpers/checkIn/run?timeout=5", {}, 422),
        ("/helpers/checkIn/disable", {"json": {"reason": 5}}, 422),
        ("/helpers/checkIn/disable", {"content": b"{nope"}, 422),
        ("/helpers/executions/checkIn:1/cancel", {"json": {"grace": -1}}, 422),
    ):
        response = api.post(path, headers=AUTH, **kwargs)
        assert response.status_code == status, (path, kwargs, response.text)
        assert set(response.json()) >= {"error"}
    bad = {"schedule": {"type": "interval", "interval_seconds": 0}, "reason": "nope"}
    assert api.put("/helpers/checkIn", headers=AUTH, json=bad).status_code == 422
    assert api.post("/helpers/checkIn/run").status_code == 401  # the token, as for every change
    assert snapshot() == before


def test_run_wait_times_out_with_202(api):
    response = api.post("/helpers/checkIn/run?wait=true&timeout=0.6", headers=AUTH)
    assert response.status_code == 202 and response.json()["status"] == "queued"
