"""The two log formats (infra/logs.py): text keeps its prefixed lines, json writes one object per
line with the record's event and fields; and every log call of the core names its event."""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from pathlib import Path

import pytest

from queuectl.infra import logs

SRC = Path(__file__).resolve().parents[2] / "src" / "queuectl"
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def emit(fmt: str, level: int, message: str, *args: object, exc: bool = False, **extra: object) -> str:
    stream = io.StringIO()
    logger = logging.getLogger("queuectl.test_log_format")
    logger.handlers[:] = [logs.handler(fmt, stream)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        if exc:
            try:
                raise ValueError("boom\nsecond line")
            except ValueError:
                logger.exception(message, *args, extra=extra)
        else:
            logger.log(level, message, *args, extra=extra)
    finally:
        logger.handlers[:] = []
    return stream.getvalue()


@pytest.fixture(autouse=True)
def no_bound_fields():
    saved = dict(logs.context())
    logs.context().clear()
    yield
    logs.context().clear()
    logs.context().update(saved)


def test_text_format_keeps_the_prefixed_line() -> None:
    out = emit("text", logging.WARNING, "[DISPATCHER] %s failed: %s", "h:1", "oops", event="execution_failed")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARNING \[DISPATCHER\] h:1 failed: oops\n", out), out


def test_json_line_has_the_fields_of_the_call() -> None:
    logs.bind(dispatcher="host-1-abcd")
    out = emit(
        "json",
        logging.INFO,
        "[DISPATCHER] %s succeeded",
        "weathery:1796027400",
        event="execution_succeeded",
        execution_id="weathery:1796027400",
        helper="weathery",
        lateness_ms=0.4,
        duration_ms=12.0,
    )
    assert out.endswith("\n") and out.count("\n") == 1
    data = json.loads(out)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", data["ts"]), data["ts"]
    assert data["level"] == "info"
    assert data["event"] == "execution_succeeded"
    assert data["execution_id"] == "weathery:1796027400"
    assert data["helper"] == "weathery"
    assert (data["lateness_ms"], data["duration_ms"]) == (0.4, 12.0)
    assert data["dispatcher"] == "host-1-abcd"
    assert data["message"] == "[DISPATCHER] weathery:1796027400 succeeded"
    assert "args" not in data and "msecs" not in data and "levelno" not in data


def test_json_line_stays_one_line_with_newlines_and_a_traceback() -> None:
    out = emit("json", logging.ERROR, "line one\nline two", exc=True, event="step_crashed")
    assert out.count("\n") == 1
    data = json.loads(out)
    assert data["message"] == "line one\nline two"
    assert data["level"] == "error"
    assert "ValueError: boom" in data["exception"]


def test_json_without_an_event_and_with_odd_values() -> None:
    out = emit("json", logging.DEBUG, "plain %d", 3, when=Path("/tmp/x"), items={"a": 1})
    data = json.loads(out)
    assert data["event"] == logs.DEFAULT_EVENT
    assert data["when"] == "/tmp/x"  # not JSON-native: written as text, never a crash
    assert data["items"] == {"a": 1}
    assert data["message"] == "plain 3"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        logs.handler("xml")


def log_calls(path: Path):
    """(line, extra keyword) of every logger call in a module."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = node.func.value
        is_logger = (isinstance(target, ast.Name) and target.id == "log") or (
            isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute) and target.func.attr == "getLogger"
        )
        if is_logger and node.func.attr in LEVELS:
            extra = next((k.value for k in node.keywords if k.arg == "extra"), None)
            yield node.lineno, extra


def test_every_core_log_call_names_its_event() -> None:
    """Each log call of the dispatcher's modules passes extra={"event": "<snake_case>", ...}, so
    the json format's `event` is stable whatever the message says (a call passing a computed
    extra builds it with outcome_fields, whose events are checked here too)."""
    checked = 0
    events: set[str] = set()
    for path in sorted([*SRC.glob("runtime/*.py"), *SRC.glob("infra/*.py")]):
        for lineno, extra in log_calls(path):
            where = f"{path.relative_to(SRC)}:{lineno}"
            assert extra is not None, f"{where}: a log call without extra={{'event': ...}}"
            checked += 1
            if isinstance(extra, ast.Dict):
                keys = [k.value for k in extra.keys if isinstance(k, ast.Constant)]
                assert "event" in keys, where
                value = extra.values[keys.index("event")]
                assert isinstance(value, ast.Constant) and SNAKE.match(value.value), where
                events.add(value.value)
            else:
                assert isinstance(extra, ast.Name) and extra.id == "fields", where
    text = (SRC / "runtime" / "dispatcher.py").read_text()
    computed = re.findall(r'outcome_fields\([^)]*"(\w+)"\)', text)
    assert len(computed) == 4 and all(SNAKE.match(e) for e in computed), computed
    assert checked >= 30
    assert {"execution_started", "dispatcher_ready", "redis_unavailable"} <= events
