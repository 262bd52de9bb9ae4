"""System-wide endpoints: the status summary, the health probe, /metrics and the dashboard page."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.responses import Response

from queuectl.api import schemas
from queuectl.api.responses import json_response
from queuectl.api.routes import _errors, guards
from queuectl.store import views

if TYPE_CHECKING:
    from queuectl.api.auth import Access
    from queuectl.infra.app import App

#: Seconds the Redis configuration check is reused: it reads INFO and CONFIG GET, which do not
#: change from one request to the next, and a status probe may come a thousand times a second.
CHECK_TTL = 10.0


class CachedCheck:
    """`views.redis_check`, run at most once per CHECK_TTL seconds (failures are not kept)."""

    def __init__(self, ttl: float = CHECK_TTL, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.now = now
        self.value: dict[str, Any] | None = None
        self.taken = 0.0

    def __call__(self, core: App) -> dict[str, Any]:
        if self.value is None or self.now() - self.taken > self.ttl:
            self.value = views.redis_check(core)
            self.taken = self.now()
        return self.value


def system_router(core: App, access: Access) -> APIRouter:
    reads, _ = guards(access)
    denied = () if access.open_reads else (401, 403)
    router = APIRouter(tags=["system"], dependencies=reads)
    check = CachedCheck()

    @router.get(
        "/helpers/status/system",
        summary="System status",
        description="The design's status keys (system_status, available_helpers, total_queued_executions, "
        "dispatcher, timestamp) plus detail, as `queuectl status --json`. The Redis configuration "
        f"check under `redis` is refreshed every {CHECK_TTL:g} s.",
        response_model=None,
        responses={200: {"model": schemas.SystemStatus}, **_errors(*denied, 503)},
    )
    async def system_status() -> Response:
        return json_response(views.system_status(core, check=check))

    @router.get(
        "/healthz",
        summary="Health probe",
        description="200 while Redis answers and at least one dispatcher's heartbeat is fresh; "
        "503 with the reason otherwise.",
        response_model=None,
        responses={200: {"model": schemas.Health}, **_errors(*denied, 503)},
    )
    async def healthz() -> Response:
        from queuectl.store.dispatchers import live

        alive = core.guarded(lambda: live(core.client, core.clock.time()))  # Redis answered
        if not alive:
            message = "no dispatcher heartbeat is fresh: is `queuectl run` running?"
            return json_response({"error": message, "detail": message, "status": "unhealthy"}, 503)
        return json_response({"status": "ok", "redis": "ok", "dispatchers_alive": len(alive)})

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        description="Cluster-wide metrics in the Prometheus text format, read from Redis (every "
        "dispatcher's work, whichever `serve` is asked).",
        response_model=None,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}, **_errors(503)},
    )
    async def metrics() -> Response:
        from queuectl.api.metrics import render  # type: ignore[import-not-found, unused-ignore]

        body, content_type = render(core)
        return Response(body, media_type=content_type)

    return router


def dashboard_router() -> APIRouter:
    """GET /: the dashboard, one page shipped in the package (it asks for the token itself)."""
    router = APIRouter(tags=["dashboard"])

    @router.get("/", summary="Dashboard", description="The live dashboard (HTML).", include_in_schema=False)
    async def dashboard() -> Response:
        from importlib.resources import files

        page = files("queuectl.api").joinpath("static", "dashboard.html").read_bytes()
        return Response(page, media_type="text/html; charset=utf-8")

    return router
