"""Every read endpoint answers what the CLI's `--json` prints for the same state."""

from __future__ import annotations

import time

import pytest
from api_support import same_as_one_of

import support

pytestmark = pytest.mark.usefixtures("two_helpers")


def test_helpers_list_is_helpers_list_json(api, cli):
    response = api.get("/helpers/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert [h["name"] for h in response.json()] == ["checkIn", "nightly"]
    same_as_one_of(lambda: api.get("/helpers/").json(), lambda: cli.json("helpers", "list"))


def test_helper_show_is_helpers_show_json(api, cli):
    body = same_as_one_of(lambda: api.get("/helpers/checkIn").json(), lambda: cli.json("helpers", "show", "checkIn"))
    assert body["schedule"]["interval_seconds"] == 600 and body["schedule"]["priority"] == 1
    assert len(body["queued"]) >= 1 and body["recent"] == []


def test_queue_is_queue_show_json(api, cli):
    body = api.get("/helpers/executions/queue", params={"limit": 10}).json()
    assert body == cli.json("queue", "show", "--limit", "10")
    assert body and all(e["helper"] == "checkIn" and e["status"] == "queued" for e in body)
    mine = api.get("/helpers/executions/queue", params={"limit": 1, "helper": "checkIn"}).json()
    assert mine == cli.json("queue", "show", "--limit", "1", "--helper", "checkIn")
    assert len(mine) == 1
    assert api.get("/helpers/executions/queue", params={"helper": "nightly"}).json() == []


def test_history_is_history_json(api, cli, seeder):
    now = int(time.time())  # older than checkIn's expiry (1 h): times the planner left alone
    ok = seeder.finished("checkIn", now - 4000, "success", now - 3990)
    bad = seeder.finished("checkIn", now - 8000, "error", now - 7990, error="boom")
    assert [e["execution_id"] for e in api.get("/helpers/executions/history").json()] == [ok, bad]
    for params, argv in [
        ({}, []),
        ({"status": "error"}, ["--status", "error"]),
        ({"helper": "checkIn", "since": "90m"}, ["--helper", "checkIn", "--since", "90m"]),
        ({"limit": 1}, ["--limit", "1"]),
    ]:
        assert api.get("/helpers/executions/history", params=params).json() == cli.json("history", *argv), params
    # the document's empty parameters mean "no filter"
    empty = api.get("/helpers/executions/history?helper=&status=&since=")
    assert [e["execution_id"] for e in empty.json()] == [ok, bad]
    one = api.get(f"/helpers/executions/{bad}").json()
    assert one["status"] == "error" and one["error"] == "boom"
    record = cli.json("history", "--status", "error")[0]
    assert {k: one[k] for k in record} == record  # the record, plus its timeline (executions show)
    assert one == cli.json("executions", "show", bad)


def test_one_queued_execution_by_id(api, cli):
    first = cli.json("queue", "show", "--limit", "1")[0]
    one = api.get(f"/helpers/executions/{first['execution_id']}").json()
    assert {k: one[k] for k in first} == first


def test_status_is_status_json(api, cli, client):
    support.live_dispatcher(client)
    body = api.get("/helpers/status/system").json()
    expected = cli.json("status")
    for data in (body, expected):
        data.pop("timestamp")
    assert body == expected
    assert body["system_status"] == "running"
    assert body["available_helpers"] == 2
    assert body["dispatcher"] == {
        "registered_helpers": 2,
        "running_executions": 0,
        "dispatcher_running": True,
    }
    assert body["total_queued_executions"] >= 1


def test_status_counts_survive_corrupt_catalog_entries(api, client):
    import json

    from queuectl.domain.keys import AVAILABLE_HELPERS

    off = json.dumps({"status": "ok", "schedule": {"type": "daily", "time": "08:00", "enabled": False}})
    client.hset(AVAILABLE_HELPERS, mapping={"junk": "not json", "odd": '{"status": "ok", "schedule": [1]}', "off": off})
    for _ in range(2):  # the second read takes the entries' states from the cache
        body = api.get("/helpers/status/system").json()
        assert body["available_helpers"] == 5
        assert (body["enabled_helpers"], body["broken_helpers"]) == (1, 2)  # checkIn; junk and odd


def test_healthz_needs_a_fresh_heartbeat(api, client):
    response = api.get("/healthz")
    assert response.status_code == 503
    assert "dispatcher" in response.json()["error"]
    support.live_dispatcher(client, ttl=30)
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "ok", "dispatchers_alive": 1}


@pytest.mark.parametrize(
    "path",
    [
        "/helpers/ghost",
        "/helpers/executions/ghost:1796032800",
        "/helpers/executions/checkIn:0",
        "/helpers/executions/not-an-id",
        "/helpers/bad%20name!",
    ],
)
def test_unknown_things_are_404_with_one_line(api, path):
    response = api.get(path)
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error", "detail"} and "\n" not in body["error"]


@pytest.mark.parametrize(
    "query",
    ["status=queued", "status=bogus", "since=yesterday", "limit=0", "limit=100001", "limit=x", "helper=bad%20name"],
)
def test_bad_history_queries(api, cli, query):
    response = api.get(f"/helpers/executions/history?{query}")
    assert response.status_code in (404, 422), response.text
    assert "\n" not in response.json()["error"]
    assert "Traceback" not in response.text


def test_bad_status_has_the_cli_message(api, cli):
    response = api.get("/helpers/executions/history", params={"status": "bogus"})
    assert response.status_code == 422
    result = cli("history", "--status", "bogus", check=2)
    assert result.stderr.strip() == f"Error: {response.json()['error']}"


def test_route_order_keeps_fixed_paths(api):
    """/helpers/status/system and /helpers/executions/... are not read as helper names."""
    assert "system_status" in api.get("/helpers/status/system").json()
    assert isinstance(api.get("/helpers/executions/queue").json(), list)
    assert isinstance(api.get("/helpers/executions/history").json(), list)


def test_openapi_documents_every_route(api):
    doc = api.get("/openapi.json").json()
    expected = {
        ("get", "/helpers/"),
        ("get", "/helpers/{name}"),
        ("put", "/helpers/{name}"),
        ("post", "/helpers/{name}/enable"),
        ("post", "/helpers/{name}/disable"),
        ("post", "/helpers/{name}/reset"),
        ("get", "/helpers/status/system"),
        ("get", "/helpers/executions/queue"),
        ("get", "/helpers/executions/history"),
        ("get", "/helpers/executions/{execution_id}"),
        ("get", "/healthz"),
        ("get", "/metrics"),
    }
    found = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert expected <= found
    for method, path in expected:
        operation = doc["paths"][path][method]
        assert operation.get("description"), (method, path)
        assert "200" in operation["responses"], (method, path)
    assert doc["paths"]["/helpers/{name}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert "ScheduleBody" in doc["components"]["schemas"]
    assert api.get("/docs").status_code == 200
