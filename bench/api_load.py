#!/usr/bin/env python3
"""API load: `queuectl serve` under wrk, with a dispatcher running and ~10k executions queued.

  python bench/api_load.py                      # 10k queued, each endpoint 20 s at -t2 -c16
  python bench/api_load.py --queued 500 --duration 3 --idle 3   # smoke run (~40 s)
  python bench/api_load.py --py-spy /tmp/serve.raw               # + a py-spy profile of serve

Method: a private redis-server and one `queuectl run` (DispatcherSession, warmed up); interval
--ticks helpers every --tick-every s (lateness samples: 1 execution/s by default) and interval
helpers of 30 s, 31 s, ... (their runs spread over the seconds) until the 2 h window holds at
least --queued executions; all registered and planned by `queuectl helpers sync`.
Then one `queuectl serve` on 127.0.0.1, and:
  1. idle: --idle s with no HTTP load;
  2. per endpoint (GET /helpers/status/system, GET /helpers/executions/queue?limit=10):
     `wrk -t T -c C -d D --latency` (Debian's wrk; a Lua `done` hook prints the figures).
The dispatcher's lateness in each phase is startedAt - executionTime of the executions due in
it, read from their hashes once they finished. Errors = non-2xx/3xx answers (wrk counts
status >= 400) + socket errors (connect, read, write, timeout); each endpoint is checked to
answer 200 before it is loaded.
Targets (issue 12): >= 1,000 req/s, p99 <= 25 ms, 0 errors, per endpoint.
Prints a table, then ONE JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    DispatcherSession,
    Proc,
    PySpy,
    base_result,
    emit,
    free_port,
    install_sigterm,
    log,
    machine_info,
    print_table,
    queuectl_env,
    summarize,
    sync,
    wait_until_wall,
)

ENDPOINTS = ("/helpers/status/system", "/helpers/executions/queue?limit=10")
#: The planning window (2 h): what the queue holds of each interval helper.
WINDOW_S = 7200
TARGET_RPS, TARGET_P99_MS = 1000.0, 25.0

# wrk's `done` hook: one line with the figures (latencies in microseconds)
WRK_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def queue_rows(queued: int, first_interval: int) -> list[tuple[str, dict[str, Any]]]:
    """Interval helpers (30 s, 31 s, ...) until their 2 h windows hold `queued` executions."""
    rows: list[tuple[str, dict[str, Any]]] = []
    total, interval = 0.0, first_interval
    while total < queued:
        rows.append((f"load{len(rows):04d}", {"interval_seconds": interval}))
        total += WINDOW_S / interval
        interval += 1
    return rows


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_serving(base: str, proc: Proc, timeout: float = 60.0) -> float:
    """Seconds until `serve` answers 200 on the status endpoint."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        proc.check_alive()
        try:
            status, _ = http_get(base + ENDPOINTS[0], timeout=2.0)
            if status == 200:
                return time.time() - t0
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"queuectl serve did not answer within {timeout:g}s; see {proc.log_path}")


def run_wrk(url: str, script: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [
        args.wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        script,
        url,
    ]
    log(" ".join(argv))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 60, stdin=subprocess.DEVNULL)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if p.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed rc={p.returncode}: {p.stderr.strip()[-500:]} {p.stdout[-500:]}")
    w = json.loads(line.removeprefix("WRKJSON "))
    socket_errors = w["connect"] + w["read"] + w["write"] + w["timeout"]
    seconds = w["duration_us"] / 1e6
    return {
        "requests": w["requests"],
        "rps": round(w["requests"] / seconds, 1) if seconds else None,
        "p50_ms": round(w["p50_us"] / 1000, 2),
        "p90_ms": round(w["p90_us"] / 1000, 2),
        "p99_ms": round(w["p99_us"] / 1000, 2),
        "max_ms": round(w["max_us"] / 1000, 2),
        "mean_ms": round(w["mean_us"] / 1000, 2),
        "non_2xx": w["status"],
        "socket_errors": socket_errors,
        "errors": w["status"] + socket_errors,
        "mb_per_s": round(w["bytes"] / seconds / 1e6, 2) if seconds else None,
    }


def lateness(client: Any, t0: float, t1: float, settle: float = 3.0) -> dict[str, Any]:
    """startedAt - executionTime (ms) of the executions due in [t0, t1), from their hashes, once
    they finished (history is scored by finishedAt; waits `settle` s for the last ones)."""
    from queuectl.domain import keys

    wait_until_wall(t1 + settle)
    ids = client.zrangebyscore(keys.EXECUTION_HISTORY, t0, "+inf")
    pipe = client.pipeline(transaction=False)
    for execution_id in ids:
        pipe.hmget(keys.execution_key(execution_id), "executionTime", "startedAt", "status")
    late, statuses = [], {}
    for due_text, started_text, status in pipe.execute():
        if not due_text or not t0 <= float(due_text) < t1:
            continue
        statuses[status] = statuses.get(status, 0) + 1
        if started_text:
            late.append(float(started_text) - float(due_text))
    return {"ms": summarize(late, scale=1000.0, ndigits=2), "statuses": statuses}


def cpu_split(procs: dict[str, Any], redis_cpu: Any) -> dict[str, float]:
    out = {name: proc.cpu_seconds() for name, proc in procs.items()}
    out["redis"] = redis_cpu()
    return out


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"threads": args.threads, "connections": args.connections, "duration_s": args.duration}
    with DispatcherSession(
        concurrency=args.concurrency,
        warmup=args.warmup,
        extra_args=shlex.split(args.run_args or ""),
        redis_url=args.redis_url,
    ) as s:
        r = s.client()
        res["redis_version"] = s.server.version() if s.server else r.info("server").get("redis_version")
        # the tick helpers' own windows count towards the queued executions
        rows = queue_rows(args.queued - args.ticks * WINDOW_S // args.tick_every, args.first_interval)
        base = {"type": "interval", "interval_seconds": 60, "priority": 3, "enabled": True}
        s.helpers.write("bench_load", rows, base)
        ticks = [(f"tick{i:02d}", {"interval_seconds": args.tick_every}) for i in range(args.ticks)]
        s.helpers.write("bench_ticks", ticks, base)
        report, sync_s = sync(s.url, s.helpers.path)
        res["helpers"] = len(rows) + len(ticks)
        res["sync_s"] = round(sync_s, 2)
        res["queued_at_start"] = int(r.zcard("internalExecutionQueue"))
        log(f"{res['helpers']} helpers, {res['queued_at_start']} queued (sync {sync_s:.1f} s)")

        port = free_port(args.port)
        serve = Proc(
            "queuectl-serve",
            ["serve", "--host", "127.0.0.1", "--port", str(port), *shlex.split(args.serve_args or "")],
            queuectl_env(s.url, s.helpers.path, extra={"PYTHONUNBUFFERED": "1"}),
            s.tmp,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            res["serve_ready_s"] = round(wait_serving(base_url, serve), 2)
            # let the dispatcher take in the new helpers (its rescan) before measuring lateness
            time.sleep(args.settle)
            procs = {"dispatcher": s.proc, "serve": serve}

            phases: list[dict[str, Any]] = []
            t0 = time.time()
            c0 = cpu_split(procs, s.redis_cpu)
            time.sleep(args.idle)
            t1 = time.time()
            c1 = cpu_split(procs, s.redis_cpu)
            phases.append({"phase": "idle", "seconds": round(t1 - t0, 1), "cpu_s": _delta(c0, c1)})
            phases[-1]["lateness"] = lateness(r, t0, t1)

            script = os.path.join(s.tmp, "report.lua")
            with open(script, "w") as f:
                f.write(WRK_LUA)
            for path in ENDPOINTS:
                status, body = http_get(base_url + path)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status} before the load: {body[:300]!r}")
                spy = PySpy(serve.pid, f"{args.py_spy}.{len(phases)}", rate=100) if args.py_spy else None
                t0 = time.time()
                c0 = cpu_split(procs, s.redis_cpu)
                load = run_wrk(base_url + path, script, args)
                t1 = time.time()
                c1 = cpu_split(procs, s.redis_cpu)
                phase: dict[str, Any] = {"phase": f"GET {path}", "seconds": round(t1 - t0, 1), **load}
                phase["cpu_s"] = _delta(c0, c1)
                if spy:
                    spy.stop()
                    phase["py_spy"] = {"file": spy.out_path, **spy.summary(top=20)}
                phase["lateness"] = lateness(r, t0, t1)
                phase["meets_target"] = bool(
                    load["rps"] and load["rps"] >= TARGET_RPS and load["p99_ms"] <= TARGET_P99_MS and not load["errors"]
                )
                phases.append(phase)
            serve.check_alive()
            s.proc.check_alive()
            res["queued_at_end"] = int(r.zcard("internalExecutionQueue"))
            res["phases"] = phases
            res["all_targets_met"] = all(p["meets_target"] for p in phases[1:])
            s.ok = True
        finally:
            serve.stop()
            if not s.ok:
                log(f"serve log: {serve.log_path}")
    return res


def _delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: round(b[k] - a[k], 2) for k in a}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queued", type=int, default=10000, help="executions to keep queued (default 10000)")
    ap.add_argument("--first-interval", type=int, default=30, help="interval of the first queue helper, s")
    ap.add_argument("--ticks", type=int, default=2, help="lateness-sample helpers (default 2)")
    ap.add_argument("--tick-every", type=int, default=2, help="their interval, s (default 2)")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of the idle phase (default 20)")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds between serve ready and measuring")
    ap.add_argument("--duration", type=int, default=20, help="wrk seconds per endpoint (default 20)")
    ap.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    ap.add_argument("--connections", type=int, default=16, help="wrk -c (default 16)")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk", help="the wrk binary")
    ap.add_argument("--concurrency", type=int, default=4, help="queuectl run --concurrency")
    ap.add_argument("--warmup", type=int, default=5, help="warm-up executions before measuring")
    ap.add_argument("--run-args", default="", help="extra arguments for `queuectl run`")
    ap.add_argument("--serve-args", default="", help="extra arguments for `queuectl serve`")
    ap.add_argument("--port", type=int, default=8600, help="first port tried for serve (default 8600)")
    ap.add_argument("--redis-url", default=None, help="use this Redis instead of a private one (NOT flushed)")
    ap.add_argument("--py-spy", default=None, help="record serve with py-spy during each load (FILE.<n>)")
    ap.add_argument("--out", default=None, help="also append the JSON line to this file")
    args = ap.parse_args()
    install_sigterm()
    if not os.access(args.wrk, os.X_OK):
        log(f"wrk not found at {args.wrk}: apt-get install -y wrk")
        return 2

    result = base_result("api_load", queued_target=args.queued)
    try:
        result.update(one_run(args))
    except Exception as exc:  # the JSON line is still printed, with the error
        traceback.print_exc()
        result["error"] = f"{exc.__class__.__name__}: {exc}"
    result["machine"] = machine_info(result.get("redis_version"))

    phases = result.get("phases") or []
    idle = (phases[0]["lateness"]["ms"] if phases else {}) or {}
    table = []
    for p in phases:
        late = p["lateness"]["ms"]
        table.append(
            [
                p["phase"],
                p.get("rps"),
                p.get("p50_ms"),
                p.get("p99_ms"),
                p.get("errors"),
                late.get("n"),
                late.get("p50"),
                late.get("p99"),
                (p["cpu_s"].get("serve") or 0) / max(p["seconds"], 1e-9),
            ]
        )
    print_table(
        ["phase", "req/s", "p50 ms", "p99 ms", "errors", "executions", "late p50 ms", "late p99 ms", "serve CPU"],
        table,
        title=f"queuectl serve under wrk -t{args.threads} -c{args.connections} -d{args.duration}s, "
        f"{result.get('queued_at_start')} queued, 1 dispatcher (targets: >= {TARGET_RPS:,.0f} req/s, "
        f"p99 <= {TARGET_P99_MS:g} ms, 0 errors)",
    )
    if idle:
        result["lateness_idle_p99_ms"] = idle.get("p99")
    if phases[1:]:
        result["lateness_load_p99_ms"] = max((p["lateness"]["ms"].get("p99") or 0) for p in phases[1:])
    emit(result, args.out)
    return 0 if result.get("all_targets_met") else 1


if __name__ == "__main__":
    raise SystemExit(main())
