"""The FastAPI application of `queuectl serve`, built around one core App (one Redis pool per
process) and the access rules of the address it listens on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from queuectl import __version__
from queuectl.api.auth import Access, is_loopback
from queuectl.api.errors import Guard, install_handlers
from queuectl.api.live import live_router
from queuectl.api.operator import operator_router
from queuectl.api.routes import executions_router, helpers_router
from queuectl.api.system import dashboard_router, system_router

if TYPE_CHECKING:
    from queuectl.infra.app import App

DESCRIPTION = """\
Manage queuectl over HTTP: the same operations and the same JSON objects as the command line's
`--json`. Changes (POST, PUT) need `Authorization: Bearer <token>` (QUEUECTL_API_TOKEN or
`queuectl serve --token-file`); reads need it too unless the server listens on a loopback address.
Errors are one JSON line: `{"error": "..."}`.
"""


def create_app(core: App, *, token: str | None, host: str = "127.0.0.1", token_name: str = "api") -> FastAPI:
    """The API over `core`. `host` is the address the server listens on: reads are open only on a
    loopback one. `token` None: no token configured (changes answer 403). `token_name`: who the
    audit trail says made the changes."""
    access = Access(token=token, open_reads=is_loopback(host), token_name=token_name)
    api = FastAPI(
        title="queuectl",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_handlers(api)
    api.add_middleware(Guard, redis_url=core.url)
    # order matters: /helpers/status/system and /helpers/executions/... (the history stream
    # included) before /helpers/executions/{id} and /helpers/{name}
    api.include_router(system_router(core, access))
    api.include_router(live_router(core, access))
    api.include_router(operator_router(core, access))
    api.include_router(executions_router(core, access))
    api.include_router(helpers_router(core, access))
    api.include_router(dashboard_router())
    api.state.core = core
    api.state.access = access
    _document_request_bodies(api)
    return api


def _document_request_bodies(api: FastAPI) -> None:
    """Put the PUT body's schema (ScheduleBody) in the OpenAPI components: the route reads its body
    with the core's own parser, so FastAPI does not learn the model from a parameter."""
    from fastapi.openapi.utils import get_openapi

    from queuectl.api.schemas import CancelBody, ReasonBody, RunBody, ScheduleBody

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            doc = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            body = ScheduleBody.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components["ScheduleBody"] = body
            for model in (RunBody, CancelBody, ReasonBody):
                components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
            api.openapi_schema = doc
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
