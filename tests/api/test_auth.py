"""Who may do what: changes need the bearer token, always; reads need it off loopback; with no
token configured changes answer 403 saying how to set one; the token is never echoed."""

from __future__ import annotations

import pytest
from api_support import AUTH, TOKEN

from queuectl.api.auth import is_loopback, read_token

pytestmark = pytest.mark.usefixtures("two_helpers")

CHANGES = [
    ("post", "/helpers/checkIn/enable"),
    ("post", "/helpers/checkIn/disable"),
    ("post", "/helpers/checkIn/reset"),
    ("put", "/helpers/checkIn"),
]
READS = [
    "/helpers/",
    "/helpers/checkIn",
    "/helpers/status/system",
    "/helpers/executions/queue?limit=10",
    "/helpers/executions/history",
    "/healthz",
]
BODY = {"schedule": {"type": "daily", "time": "08:00"}}


def call(api, method, path, headers=None):
    kwargs = {"json": BODY} if method == "put" else {}
    return getattr(api, method)(path, headers=headers or {}, **kwargs)


@pytest.mark.parametrize("method,path", CHANGES)
def test_changes_without_the_right_token_are_401(api, snapshot, method, path):
    before = snapshot()
    for headers in [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ]:
        response = call(api, method, path, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text
    assert snapshot() == before


@pytest.mark.parametrize("method,path", CHANGES)
def test_changes_with_the_token_pass(api, method, path):
    assert call(api, method, path, AUTH).status_code == 200
    assert call(api, method, path, {"Authorization": f"bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("method,path", CHANGES)
def test_no_token_configured_refuses_changes_with_how_to(make_api, snapshot, method, path):
    api = make_api(token=None)
    before = snapshot()
    for headers in ({}, AUTH):
        response = call(api, method, path, headers)
        assert response.status_code == 403
        assert "QUEUECTL_API_TOKEN" in response.json()["error"] and "--token-file" in response.json()["error"]
    assert snapshot() == before


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_reads_are_open_on_loopback(make_api, client, host):
    import support

    support.live_dispatcher(client)
    api = make_api(host=host)
    for path in READS:
        assert api.get(path).status_code == 200, path


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])
def test_reads_need_the_token_off_loopback(make_api, client, host):
    import support

    support.live_dispatcher(client)
    api = make_api(host=host)
    for path in READS:
        response = api.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert api.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert api.get(path, headers=AUTH).status_code == 200, path
    assert api.get("/docs").status_code == 200  # the page, not data
    no_token = make_api(host=host, token=None)
    response = no_token.get("/helpers/")
    assert response.status_code == 403 and "QUEUECTL_API_TOKEN" in response.json()["error"]


def test_openapi_declares_the_bearer_scheme(api):
    doc = api.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())
    assert doc["paths"]["/helpers/{name}/enable"]["post"]["security"]


def test_loopback_rule():
    assert is_loopback("127.0.0.1") and is_loopback("127.255.0.1") and is_loopback("::1")
    assert is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.1")
    assert not is_loopback("localhost.example.org")


def test_token_sources(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}\n")
    assert read_token(path, "from-env") == TOKEN  # the file wins, stripped
    assert read_token(None, " from-env ") == "from-env"
    assert read_token(None, "") is None and read_token(None, None) is None
    path.write_text("\n")
    from queuectl.domain.errors import InvalidInput

    with pytest.raises(InvalidInput):
        read_token(path, None)
    with pytest.raises(InvalidInput):
        read_token(tmp_path / "missing", None)
