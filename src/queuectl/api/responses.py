"""Bodies written as prepared JSON: the core already built plain dicts, so the hot paths skip
FastAPI's response-model validation and serialise once with `json.dumps`."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")
