"""The live views over HTTP: `GET /overview` (the twin of `queuectl top`) and
`GET /helpers/executions/history/stream` (the twin of `queuectl history --follow`).

The stream is server-sent events driven by the CLI's own follow loop (store/follow.py
`follow_steps`): each poll runs in the thread pool (a Redis that does not answer blocks a call
for seconds, and must not block the event loop), and the waits between polls are the event
loop's, so a client that goes away ends its stream at once (Starlette cancels it on the
disconnect) and no thread or task is left polling.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from queuectl.api import schemas
from queuectl.api.responses import json_response
from queuectl.api.routes import _errors, guards
from queuectl.store import views

if TYPE_CHECKING:
    from queuectl.api.auth import Access
    from queuectl.infra.app import App
    from queuectl.store.follow import HistoryCursor

#: Seconds without anything sent after which the stream sends a `: keepalive` comment (proxies
#: and load balancers close connections that stay silent for long).
KEEPALIVE = 15.0

STREAM_PATH = "/helpers/executions/history/stream"

KEEPALIVE_EVENT = b": keepalive\n\n"


def event(data: Any, name: str | None = None) -> bytes:
    """One server-sent event: an optional `event:` line, then `data:` with compact JSON (one line:
    json.dumps escapes every newline)."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def history_events(
    core: App,
    cursor: HistoryCursor,
    *,
    keepalive: float = KEEPALIVE,
    interval: float | None = None,
    stopping: Callable[[], bool] = lambda: False,
    monotonic: Callable[[], float] = time.monotonic,
) -> AsyncIterator[bytes]:
    """The event stream of `history --follow`: a `: keepalive` comment once the follower has
    started (at the end of history), then one `data:` event per finished execution as it
    finishes (the `history --json` object), `event: error` when Redis stops answering and
    `event: recovered` when it answers again (the stream goes on through an outage), and a
    keepalive comment after `keepalive` seconds of silence. Ends when `stopping()` turns true
    (the server shuts down), or when its consumer stops (the client disconnected)."""
    from queuectl.store.follow import INTERVAL, Outage, Wait, follow_steps

    steps = follow_steps(core, cursor, monotonic=monotonic, interval=INTERVAL if interval is None else interval)
    sent: float | None = None  # when something was last sent; None: nothing yet
    try:
        while not stopping():
            item = await run_in_threadpool(next, steps)  # one poll, or an item that poll found
            if isinstance(item, Wait):
                if sent is None or monotonic() - sent >= keepalive:
                    yield KEEPALIVE_EVENT
                    sent = monotonic()
                await anyio.sleep(item.seconds)
                continue
            if isinstance(item, Outage):
                chunk = event({"error": item.error}, "error") if item.error is not None else event({}, "recovered")
            else:
                chunk = b"".join(event(e.to_json()) for e in item)
            yield chunk
            sent = monotonic()
    finally:
        steps.close()


def live_router(core: App, access: Access) -> APIRouter:
    """GET /overview and GET /helpers/executions/history/stream (registered before
    /helpers/executions/{id} and /helpers/{name})."""
    reads, _ = guards(access)
    denied = () if access.open_reads else (401, 403)
    router = APIRouter(dependencies=reads)

    @router.get(
        "/overview",
        tags=["system"],
        summary="What `queuectl top` shows",
        description="One reading of what `queuectl top` draws each second: dispatchers and their load, running "
        "executions with their elapsed time, the next 10 due, the last 10 outcomes, executions finished in "
        "the last minute, and lateness p50/p99 (ms) of first attempts of planned executions finished in the "
        "last 5 minutes.",
        response_model=None,
        responses={200: {"model": schemas.Overview}, **_errors(*denied, 503)},
    )
    async def overview() -> Response:
        return json_response(views.overview(core).to_json())

    @router.get(
        STREAM_PATH,
        tags=["executions"],
        summary="Follow finished executions (server-sent events)",
        description="Executions as they finish, from now on, as `text/event-stream`: one `data:` event per "
        "execution (the object of GET /helpers/executions/history), `event: error` while Redis is unreachable "
        "(the stream goes on; `event: recovered` when it answers again), a `: keepalive` comment at the start "
        f"and after {KEEPALIVE:g} s of silence. Redis is asked at most once a second. As "
        "`queuectl history --follow --json`.",
        response_model=None,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "Server-sent events, until the client leaves"},
            **_errors(*denied, 404, 422),
        },
    )
    async def history_stream(
        request: Request,
        helper: str | None = Query(None, description="Only this helper."),
        status: str | None = Query(None, description="success, error, expired or cancelled."),
    ) -> Response:
        from queuectl.store.follow import HistoryCursor

        query = views.history_query(helper=helper or None, status=status or None)
        cursor = HistoryCursor(helper=query.helper, status=query.status)
        stopping = getattr(request.app.state, "stopping", lambda: False)
        return StreamingResponse(
            history_events(core, cursor, stopping=stopping),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
