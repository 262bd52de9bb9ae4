"""The operator tools over HTTP: run a helper now, cancel an execution, read the audit trail.

The twins of `helpers run`, `executions cancel` and `audit`: each handler calls the core function
the CLI calls (store/manual.py, store/cancel.py, store/views.py), with the token's name as the
actor of the audit trail. Bodies are optional JSON objects (`{"reason": "..."}`, plus
`priority` for a run and `grace` for a cancel), read by the core's own checks.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from queuectl.api import schemas
from queuectl.api.errors import error_response
from queuectl.api.responses import json_response
from queuectl.api.routes import NAME, _errors, guards
from queuectl.domain.errors import InvalidInput
from queuectl.store import views

if TYPE_CHECKING:
    from queuectl.api.auth import Access
    from queuectl.infra.app import App

#: The longest `?timeout=` of a waited run: a request should not hold a connection for hours.
MAX_WAIT = 3600.0
#: The wait of `?wait=true` without a timeout.
DEFAULT_WAIT = 60.0


def optional_body(name: str) -> dict[str, Any]:
    """An optional JSON body with the schema `name` (components/schemas), for the OpenAPI doc."""
    return {
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def read_body(raw: bytes, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The optional JSON object body: {} when empty; InvalidInput (422) for anything else or an
    unknown key."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput(f"invalid request body: not JSON; give an object with {', '.join(allowed)}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"invalid request body: give a JSON object with {', '.join(allowed)}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(f"invalid request body: unknown key {unknown[0]!r}; use {', '.join(allowed)}")
    return data


def _number(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise InvalidInput(f"invalid {key} {value!r}: give a number")
    return value


def operator_router(core: App, access: Access) -> APIRouter:
    """POST /helpers/{name}/run, POST /helpers/executions/{id}/cancel, GET /audit."""
    from queuectl.domain.audit import api_actor, check_reason
    from queuectl.store import cancel as cancel_store
    from queuectl.store import manual

    reads, changes = guards(access)
    denied = () if access.open_reads else (401, 403)
    router = APIRouter()

    @router.post(
        "/helpers/executions/{execution_id}/cancel",
        tags=["executions"],
        summary="Cancel an execution",
        description="A queued execution (a retry waiting included) ends `cancelled` at once (200); a running "
        "one is stopped by its dispatcher (SIGTERM to its process group, SIGKILL after `grace` seconds, "
        "default 10) and ends `cancelled` (202: follow it with GET /helpers/executions/{id}). A finished "
        "one answers 409, an unknown one 404; neither changes anything. As `queuectl executions cancel`.",
        response_model=None,
        dependencies=changes,
        openapi_extra=optional_body("CancelBody"),
        responses={
            200: {"model": schemas.CancelReport},
            202: {"model": schemas.CancelReport, "description": "Running: its dispatcher was asked to stop it."},
            409: {"model": schemas.Error, "description": "It has finished already; nothing was changed."},
            **_errors(401, 403, 404, 413, 422, 503),
        },
    )
    async def cancel(
        request: Request,
        execution_id: str = Path(
            description="`<helper>:<unix seconds>` or `<helper>:manual-<ms>-<hex>`", examples=["checkIn:1796027400"]
        ),
    ) -> Response:
        body = read_body(await request.body(), ("reason", "grace"))
        grace = _number(body, "grace")
        grace = cancel_store.check_grace(cancel_store.DEFAULT_GRACE if grace is None else grace)
        actor = api_actor(access.token_name, check_reason(body.get("reason")))
        try:
            report = await run_in_threadpool(cancel_store.cancel, core, execution_id, actor, grace=grace)
        except cancel_store.AlreadyFinished as exc:
            return error_response(409, str(exc))
        return json_response(report.to_json(), 200 if report.outcome == "cancelled" else 202)

    @router.post(
        "/helpers/{name}/run",
        tags=["helpers"],
        summary="Run a helper now",
        description="Queue one manual execution due now (a disabled helper runs too; a broken or missing one "
        "does not: 422) and answer its record: 202 while it is queued. With `?wait=true` the answer "
        "waits until it ends (200, its final record) or `timeout` seconds pass (202, its record then). "
        "As `queuectl helpers run NAME [--wait] --json`.",
        response_model=None,
        dependencies=changes,
        openapi_extra=optional_body("RunBody"),
        responses={
            200: {"model": schemas.Execution, "description": "It ended (with ?wait=true)."},
            202: {"model": schemas.Execution, "description": "It is queued or running."},
            **_errors(401, 403, 404, 413, 422, 503),
        },
    )
    async def run(
        request: Request,
        name: str = NAME,
        wait: bool = Query(False, description="Answer when it has ended (or the timeout passed)."),
        timeout: float | None = Query(
            None, description=f"With wait: seconds to wait at most (default {DEFAULT_WAIT:g}, at most {MAX_WAIT:g})."
        ),
    ) -> Response:
        body = read_body(await request.body(), ("reason", "priority"))
        priority = body.get("priority")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise InvalidInput(f"invalid priority {priority!r}: use 1 (runs first) to 5")
        if timeout is not None and not 0 < timeout <= MAX_WAIT:
            raise InvalidInput(f"invalid timeout {timeout!r}: give seconds, more than 0 and at most {MAX_WAIT:g}")
        if timeout is not None and not wait:
            raise InvalidInput("timeout needs wait=true")
        spec = manual.run_request(
            name, priority=priority, wait=wait, timeout=(timeout or DEFAULT_WAIT) if wait else None
        )
        actor = api_actor(access.token_name, check_reason(body.get("reason")))
        queued = await run_in_threadpool(manual.run_now, core, spec, actor)
        if not wait:
            return json_response(queued.to_json(), 202)
        final, ended = await run_in_threadpool(manual.wait_for_end, core, queued.execution_id, timeout=spec.timeout)
        return json_response(final.to_json(), 200 if ended else 202)

    @router.get(
        "/audit",
        tags=["audit"],
        summary="The audit trail",
        description="Operator changes (enable, disable, update, reset, run, cancel; from the CLI or the API), "
        "newest first: when, who, what, the schedule before and after, why. The last ~10,000 are kept. "
        "As `queuectl audit --json`.",
        response_model=None,
        dependencies=reads,
        responses={200: {"model": list[schemas.AuditEntry]}, **_errors(*denied, 422, 503)},
    )
    async def audit(
        helper: str | None = Query(None, description="Only this helper's changes."),
        since: str | None = Query(
            None, description="Made since: a span back from now (90s, 30m, 2h, 1h30m) or an ISO 8601 time."
        ),
        limit: int = Query(50, description=f"How many (1 to {views.MAX_LIMIT})."),
    ) -> Response:
        query = views.audit_query(helper=helper or None, since=since or None, limit=limit)
        return json_response([entry.to_json() for entry in views.audit(core, query)])

    return router
