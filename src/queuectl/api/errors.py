"""Errors as HTTP answers: one JSON line `{"error": "...", "detail": "..."}`, never a traceback.

queuectl's own errors map by kind (not found 404, invalid input 422, Redis unreachable 503,
a lost compare-and-set race 409); anything unexpected is logged with its traceback on the
server and answered 500 with one line. `Guard`, a plain ASGI middleware, also refuses bodies
over MAX_BODY before anything parses them: by Content-Length, and by counting what arrives
(a chunked body has no length).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queuectl.domain.errors import ConcurrentChange, InvalidInput, NotFound, QueuectlError, RedisUnavailable

log = logging.getLogger(__name__)

#: The largest request body accepted (bytes).
MAX_BODY = 64 * 1024


def error_body(message: str) -> bytes:
    return json.dumps({"error": message, "detail": message}, ensure_ascii=False, separators=(",", ":")).encode()


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(message), status_code=status, media_type="application/json", headers=headers)


def status_of(exc: QueuectlError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, RedisUnavailable):
        return 503
    if isinstance(exc, ConcurrentChange):
        return 409
    return 500


async def _queuectl_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QueuectlError)
    return error_response(status_of(exc), str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def _validation_error(_request: Request, exc: Exception) -> Response:
    """FastAPI's own parameter checks (a limit that is not a number): one line naming it."""
    assert isinstance(exc, RequestValidationError)
    first: dict[str, Any] = next(iter(exc.errors()), {})
    where = " ".join(str(part) for part in first.get("loc", ()))
    return error_response(422, f"invalid {where or 'request'}: {first.get('msg', 'not valid')}")


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(QueuectlError, _queuectl_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class BodyTooLarge(Exception):
    """Raised from `receive` once a body passes MAX_BODY."""


class Guard:
    """Outermost of queuectl's layers: body size limit and the catch-all for errors."""

    def __init__(self, app: ASGIApp, redis_url: str) -> None:
        self.app = app
        self.redis_url = redis_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > MAX_BODY:
            await _send(send, 413, f"request body over {MAX_BODY} bytes")
            return
        started = False
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await _send(send, 413, f"request body over {MAX_BODY} bytes")
        except Exception as exc:  # noqa: BLE001 - the one place that turns any error into a 500 (or 503)
            if started:
                raise
            status, message = self._describe(exc, scope)
            await _send(send, status, message)

    def _describe(self, exc: Exception, scope: Scope) -> tuple[int, str]:
        from queuectl.infra.connection import describe_redis_error, is_redis_error

        if is_redis_error(exc):
            return 503, describe_redis_error(exc, self.redis_url)
        if isinstance(exc, QueuectlError):
            return status_of(exc), str(exc).splitlines()[0]
        log.error("[API] %s %s failed", scope.get("method"), scope.get("path"), exc_info=exc)
        return 500, f"internal error ({type(exc).__name__}); the server log has the details"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send(send: Send, status: int, message: str) -> None:
    body = error_body(message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
