"""The helpers and executions endpoints: the design's paths, the CLI's `--json` objects as bodies.

Every handler calls one core function (store/views.py for reads, store/control.py for changes),
the same one the CLI calls. Reads are quick Redis round trips and run on the event loop; changes
re-plan the window (many round trips) and run in the thread pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from queuectl.api import schemas
from queuectl.api.responses import json_response
from queuectl.store import views

if TYPE_CHECKING:
    from queuectl.api.auth import Access
    from queuectl.domain.audit import Actor
    from queuectl.infra.app import App

#: Declares the bearer token in the OpenAPI document; Access does the checking.
bearer = HTTPBearer(auto_error=False, description="The API token: QUEUECTL_API_TOKEN or `serve --token-file`.")

NAME = Path(description="The helper's name, as `queuectl helpers list` shows it.", examples=["checkIn"])


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        401: "Missing or wrong bearer token.",
        403: "No API token is configured on the server.",
        404: "No such helper or execution.",
        409: "Another process kept changing the helper; nothing was changed.",
        413: "Request body over 64 KiB.",
        422: "Invalid input (the message says which and why); nothing was changed.",
        503: "Redis cannot be reached.",
    }
    return {code: {"model": schemas.Error, "description": meaning[code]} for code in codes}


def guards(access: Access) -> tuple[list[DependsParam], list[DependsParam]]:
    """The dependencies of reads and of changes under these access rules."""

    async def read_guard(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        access.require_read(request)

    async def change_guard(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        access.require_change(request)

    reads = [] if access.open_reads else [Depends(read_guard)]
    return reads, [Depends(change_guard)]


def executions_router(core: App, access: Access) -> APIRouter:
    """/helpers/executions/...: registered before /helpers/{name} so that does not swallow them."""
    reads, _ = guards(access)
    denied = () if access.open_reads else (401, 403)
    router = APIRouter(prefix="/helpers/executions", tags=["executions"], dependencies=reads)

    @router.get(
        "/queue",
        summary="Queued executions",
        description="Queued executions in dispatch order (time, then priority), as `queuectl queue show --json`.",
        response_model=None,
        responses={200: {"model": list[schemas.Execution]}, **_errors(*denied, 404, 422, 503)},
    )
    async def queue(
        limit: int = Query(20, description=f"How many (1 to {views.MAX_LIMIT})."),
        helper: str | None = Query(None, description="Only this helper's executions."),
    ) -> Response:
        query = views.queue_query(limit=limit, helper=helper or None)
        return json_response(views.executions_json(views.queue(core, query, one_round_trip=True)))

    @router.get(
        "/history",
        summary="Finished executions",
        description="Finished executions (success, error, expired, cancelled), newest first; kept 24 h. "
        "As `queuectl history --json`.",
        response_model=None,
        responses={200: {"model": list[schemas.Execution]}, **_errors(*denied, 404, 422, 503)},
    )
    async def history(
        helper: str | None = Query(None, description="Only this helper."),
        status: str | None = Query(None, description="success, error, expired or cancelled."),
        since: str | None = Query(
            None, description="Finished since: a span back from now (90s, 30m, 2h, 1h30m) or an ISO 8601 time."
        ),
        limit: int = Query(50, description=f"How many (1 to {views.MAX_LIMIT})."),
    ) -> Response:
        query = views.history_query(helper=helper or None, status=status or None, since=since or None, limit=limit)
        return json_response(views.executions_json(views.history(core, query)))

    @router.get(
        "/{execution_id}",
        summary="One execution",
        description="One execution by id (`<helper>:<unix seconds>`, or `<helper>:manual-<ms>-<hex>` for a "
        "manual run), queued, running or finished, with its timeline, lateness and earlier attempts. As "
        "`queuectl executions show ID --json`.",
        response_model=None,
        responses={200: {"model": schemas.ExecutionDetail}, **_errors(*denied, 404, 503)},
    )
    async def execution(
        execution_id: str = Path(description="`<helper>:<unix seconds>`", examples=["checkIn:1796027400"]),
    ) -> Response:
        return json_response(views.execution_detail(core, execution_id).data)

    return router


def helpers_router(core: App, access: Access) -> APIRouter:
    """/helpers/ and /helpers/{name}[/...]: list, show, enable, disable, update, reset."""
    from queuectl.domain.audit import api_actor, body_reason
    from queuectl.domain.schedule.body import parse_config_body
    from queuectl.store import control

    reads, changes = guards(access)
    denied = () if access.open_reads else (401, 403)
    router = APIRouter(prefix="/helpers", tags=["helpers"])

    @router.get(
        "/",
        summary="All helpers",
        description="Every registered helper with its schedule in force and next run, as "
        "`queuectl helpers list --json`.",
        response_model=None,
        dependencies=reads,
        responses={200: {"model": list[schemas.Helper]}, **_errors(*denied, 503)},
    )
    async def list_helpers() -> Response:
        return json_response(views.helpers(core))

    @router.get(
        "/{name}",
        summary="One helper",
        description="One helper with its next 10 queued and last 10 finished executions, as "
        "`queuectl helpers show NAME --json`.",
        response_model=None,
        dependencies=reads,
        responses={200: {"model": schemas.HelperDetail}, **_errors(*denied, 404, 503)},
    )
    async def show_helper(name: str = NAME) -> Response:
        return json_response(views.helper(core, name).data)

    change_errors = _errors(401, 403, 404, 409, 413, 422, 503)
    #: enable, disable, reset: an optional `{"reason": "..."}` for the audit trail
    reason_body = {
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReasonBody"}}},
        }
    }

    async def actor_of(request: Request) -> Actor:
        return api_actor(access.token_name, body_reason(await request.body()))

    @router.post(
        "/{name}/enable",
        summary="Enable a helper",
        description="Enable a helper and plan its executions for the window; persists until reset. "
        "As `queuectl helpers enable NAME --json`.",
        response_model=None,
        dependencies=changes,
        openapi_extra=reason_body,
        responses={200: {"model": schemas.Change}, **change_errors},
    )
    async def enable(request: Request, name: str = NAME) -> Response:
        actor = await actor_of(request)
        report = await run_in_threadpool(core.guarded, lambda: control.set_enabled(core, name, True, actor=actor))
        return json_response(report.to_json())

    @router.post(
        "/{name}/disable",
        summary="Disable a helper",
        description="Disable a helper: its queued executions are removed, history is kept; persists until "
        "reset. As `queuectl helpers disable NAME --json`.",
        response_model=None,
        dependencies=changes,
        openapi_extra=reason_body,
        responses={200: {"model": schemas.Change}, **change_errors},
    )
    async def disable(request: Request, name: str = NAME) -> Response:
        actor = await actor_of(request)
        report = await run_in_threadpool(core.guarded, lambda: control.set_enabled(core, name, False, actor=actor))
        return json_response(report.to_json())

    @router.post(
        "/{name}/reset",
        summary="Drop the operator's changes",
        description="Drop the override left by enable, disable or update: the schedule in the helper's "
        "code is in force again. As `queuectl helpers reset NAME --json`.",
        response_model=None,
        dependencies=changes,
        openapi_extra=reason_body,
        responses={200: {"model": schemas.Change}, **change_errors},
    )
    async def reset(request: Request, name: str = NAME) -> Response:
        actor = await actor_of(request)
        report = await run_in_threadpool(core.guarded, lambda: control.reset(core, name, actor=actor))
        return json_response(report.to_json())

    @router.put(
        "/{name}",
        summary="Replace a helper's schedule",
        description='Replace the schedule with the body\'s `{"schedule": {...}}` and re-plan; persists until '
        "reset. As `queuectl helpers update NAME --config BODY --json`: the same parser, the same "
        "messages, nothing changed when it is refused.",
        response_model=None,
        dependencies=changes,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScheduleBody"}}},
            }
        },
        responses={200: {"model": schemas.Change}, **_errors(401, 403, 404, 409, 413, 422, 503)},
    )
    async def update(request: Request, name: str = NAME) -> Response:
        raw, reason = split_reason(await request.body())
        schedule = parse_config_body(raw, source="request body")
        actor = api_actor(access.token_name, reason)
        report = await run_in_threadpool(
            core.guarded, lambda: control.update(core, name, schedule, replace=True, actor=actor)
        )
        return json_response(report.to_json())

    return router


def split_reason(raw: bytes) -> tuple[bytes, str | None]:
    """A PUT body's top-level `reason` (for the audit trail) taken out, the rest left to the
    schedule parser as it came (so its messages stay the CLI's); a body that is not a JSON
    object is passed on untouched."""
    import json

    from queuectl.domain.audit import check_reason

    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return raw, None
    if not isinstance(data, dict) or "reason" not in data:
        return raw, None
    reason = check_reason(data.pop("reason"))
    return json.dumps(data).encode(), reason
