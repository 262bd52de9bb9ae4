"""Redis replies as text. queuectl's clients decode responses, so replies are str; redis-py types
them `bytes | str`, and these say which one we hold (and decode a byte reply, should a caller's
client not decode)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def maybe_text(value: bytes | str | None) -> str | None:
    return None if value is None else text(value)


def texts(values: Iterable[Any]) -> list[str]:
    return [text(v) for v in values]


def text_map(mapping: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in mapping.items()}


def scored(pairs: Iterable[Any]) -> list[tuple[str, float]]:
    """A ZRANGE ... WITHSCORES reply as (member, score) pairs."""
    return [(text(member), float(score)) for member, score in pairs]
