"""Property tests of the API from its own OpenAPI document (schemathesis), against the real test
Redis with two registered helpers: whatever the inputs, no answer is a server error (5xx).

The document is taken at import from an app whose Redis is never contacted (it does not depend
on the data); each generated request goes to an app on the test Redis. (schemathesis'
`from_fixture` loader does not work with pytest 9: it reads a removed `Function._nodeid`.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from api_support import AUTH, TOKEN
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

import support
from queuectl.api.app import create_app
from queuectl.infra.app import open_app
from queuectl.infra.config import Settings


def _document() -> dict:
    never_contacted = open_app(Settings.with_defaults(redis_url="redis://127.0.0.1:1/0", helpers_dir=Path("helpers")))
    return create_app(never_contacted, token=TOKEN).openapi()


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture()
def live_api(core_app, client, two_helpers, monkeypatch):
    support.live_dispatcher(client, ttl=600)  # /healthz answers 503 (by design) without one
    # no worker runs here: a generated `POST /helpers/{name}/run?wait=true` would wait out its
    # timeout (60 s by default); half a second shows the same answers
    monkeypatch.setattr("queuectl.api.operator.DEFAULT_WAIT", 0.5)
    monkeypatch.setattr("queuectl.api.operator.MAX_WAIT", 0.5)
    api = create_app(core_app, token=TOKEN, host="127.0.0.1")
    # the history stream never ends by itself, and the in-process client reads a whole body: here
    # it ends as when the server stops (its parameters and access rules are still checked, and a
    # 200 is still a 200); tests/api/test_live.py reads it from a real server
    api.state.stopping = lambda: True
    return api


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, live_api):
    case.call_and_validate(app=live_api, headers=AUTH, checks=[not_a_server_error])
