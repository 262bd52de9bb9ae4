"""The whole-schedule body `{"schedule": {...}}` of the design, read strictly, for every front.

`helpers update --config` and `PUT /helpers/{name}` both take this body; one parser gives both
the same checks and the same messages (only the name of where the text came from differs).
Strict on purpose: NaN, Infinity and duplicate keys are refused, where `json.loads` would take
them silently and a schedule could change in a way nobody typed.
"""

from __future__ import annotations

import json
from typing import Any

from queuectl.domain.errors import InvalidInput


def parse_config_body(text: str | bytes, *, source: str = "--config") -> dict[str, Any]:
    """The schedule of a `{"schedule": {...}}` body (not yet validated as a schedule: the update
    does that, once). `source` names the text in messages: "--config", "request body"."""

    def no_constants(value: str) -> Any:
        raise ValueError(f"{value} is not allowed")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    try:
        body = json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidInput(f"invalid {source} JSON: {_one_line(exc)}") from None
    if not isinstance(body, dict) or "schedule" not in body:
        raise InvalidInput(f'invalid {source}: expected {{"schedule": {{...}}}}')
    extra = sorted(set(body) - {"schedule"})
    if extra:
        raise InvalidInput(f"invalid {source}: unknown key {extra[0]!r} (expected only 'schedule')")
    if not isinstance(body["schedule"], dict):
        raise InvalidInput(f'invalid {source}: "schedule" must be an object')
    return body["schedule"]


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
