"""The real `queuectl serve` as a subprocess: the design document's curl examples, verbatim but
for the host, the port and the token header; a port in use; the CLI's cold start without the
web stack."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from api_support import TOKEN

import support

#: The document's examples, as it writes them (http://localhost:8000).
DOCUMENT_EXAMPLES = [
    "curl http://localhost:8000/helpers/",
    "curl -X POST http://localhost:8000/helpers/checkIn/enable",
    "curl -X POST http://localhost:8000/helpers/checkIn/disable",
    'curl -X PUT http://localhost:8000/helpers/checkIn -H "Content-Type: application/json" -d \'{"schedule": '
    '{"type": "daily", "time": "07:30:00", "priority": 1, "expiry": 3600, "enabled": true}}\'',
    "curl http://localhost:8000/helpers/status/system",
    'curl "http://localhost:8000/helpers/executions/queue?limit=10"',
]


def run_example(example: str, port: int) -> tuple[int, object]:
    """Run a document example with curl: localhost:8000 becomes the test port, changes get the
    token header; -s and the status code are added to read the answer."""
    argv = shlex.split(example.replace("localhost:8000", f"localhost:{port}"))
    assert argv[0] == "curl"
    if "-X" in argv:
        argv += ["-H", f"Authorization: Bearer {TOKEN}"]
    result = subprocess.run(
        [*argv, "-s", "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30, check=True
    )
    body, _, code = result.stdout.rpartition("\n")
    return int(code), json.loads(body)


def test_the_documents_curl_examples(served, cli):
    port, _ = served
    answers = {}
    for example in DOCUMENT_EXAMPLES:
        code, body = run_example(example, port)
        assert code == 200, (example, body)
        answers[example] = body
    helpers, enable, disable, put, status, queue = (answers[e] for e in DOCUMENT_EXAMPLES)
    assert [h["name"] for h in helpers] == ["checkIn", "nightly"]
    assert enable["helper"] == "checkIn" and enable["enabled"] is True and "executions_created" in enable
    assert disable["helper"] == "checkIn" and disable["enabled"] is False and disable["executions_removed"] >= 1
    assert put["helper"] == "checkIn" and put["schedule"]["time"] == "07:30:00" and "executions_created" in put
    assert {"system_status", "available_helpers", "total_queued_executions", "dispatcher", "timestamp"} <= set(status)
    assert set(status["dispatcher"]) >= {"registered_helpers", "running_executions", "dispatcher_running"}
    assert queue == cli.json("queue", "show", "--limit", "10")  # may be empty: 07:30 may be hours away


def test_changes_without_the_token_are_refused(served):
    port, _ = served
    result = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", "-X", "POST", f"http://localhost:{port}/helpers/checkIn/enable"],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, code_text = result.stdout.rpartition("\n")
    assert code_text == "401" and "error" in json.loads(body)


def test_port_in_use_is_one_line(served, redis_url, helpers_dir, tmp_path):
    port, _ = served
    env = support.queuectl_env(redis_url, helpers_dir, tmp_path)
    result = support.run_queuectl("serve", "--port", str(port), env=env, timeout=30)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(port) in lines[0] and "in use" in lines[0], result.stderr


def test_status_cold_start_does_not_import_the_web_stack(redis_url, tmp_path):
    env = support.queuectl_env(redis_url, tmp_path / "helpers", tmp_path)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "queuectl", "status", "--json"],
        env=env,
        cwd=Path(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert "queuectl" in imported  # importtime did report
    assert not imported & {"fastapi", "starlette", "uvicorn", "pydantic", "prometheus_client"}


def test_serve_stops_on_sigterm(served):
    import signal

    _, proc = served
    proc.signal(signal.SIGTERM)
    started = time.monotonic()
    proc.wait(timeout=10)
    assert time.monotonic() - started < 10
