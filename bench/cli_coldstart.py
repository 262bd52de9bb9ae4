#!/usr/bin/env python3
"""CLI cold start: `queuectl helpers list --json` and `queuectl status --json` as fresh processes.

  python bench/cli_coldstart.py                 # hyperfine if installed, 10 runs + 2 warm-up each
  python bench/cli_coldstart.py --runs 20 --peers   # + peers' inspection commands, same run
  python bench/cli_coldstart.py --no-hyperfine  # python timer instead

A private redis-server is seeded the way a user's would be: --helpers helpers (daily, interval
and cron, a third each) registered and planned with `queuectl helpers sync`. Each command is
timed as a new process (`--shell=bash`, as the peer harness does) against that Redis; medians
of --runs (>= 10). Baselines with the same interpreter: `python -c pass`, `python -c 'import
redis, typer'` (what any Typer CLI on redis-py pays), `queuectl --version`; `queue show --limit
20 --json` and `history --json` are timed for information. With --peers the shared harness's
cli_coldstart.py times each peer's inspection command (rq info, arq --check, celery report, and
one-liners for huey, APScheduler, rq-scheduler) in the peer venvs, in the same run.
Target (issue 10): the medians of `status --json` and `helpers list --json` within 80 ms of the
`import redis, typer` baseline's, measured in the same run.
Prints a table, then ONE JSON line last.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    HelpersDir,
    base_result,
    bytecode_env,
    emit,
    hms,
    install_sigterm,
    machine_info,
    print_table,
    private_redis,
    queuectl_argv,
    queuectl_env,
    shell_join,
    sync,
    time_commands,
)

QUEUECTL_COMMANDS = ("helpers list --json", "status --json")
#: other read commands, timed for information
OTHER_READS = ("queue show --limit 20 --json", "history --json")
#: the baseline the target is measured against, and the allowance (ms)
BASELINE = "python -c 'import redis, typer'"
ALLOWANCE_MS = 80.0


def seed(url: str, h: HelpersDir, count: int) -> dict[str, Any]:
    now = time.time()
    rows = []
    for i in range(count):
        name = f"cli_{i:05d}"
        if i % 3 == 0:
            rows.append((name, {"type": "daily", "time": hms(now + 600 + i * 37), "timezone": "UTC"}))
        elif i % 3 == 1:
            rows.append((name, {"type": "interval", "interval_minutes": 15}))
        else:
            rows.append((name, {"type": "cron", "cron": "*/30 * * * *", "timezone": "UTC"}))
    h.write("bench_cli", rows, {"priority": 3, "enabled": True})
    report, _ = sync(url, h.path)
    return {"helpers": count, "executions_created": report.get("executions_created")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="timed runs per command (>= 10 for the target)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--helpers", type=int, default=100, help="helpers registered in the test Redis")
    ap.add_argument("--no-hyperfine", action="store_true")
    ap.add_argument("--peers", action="store_true", help="also time the peers' inspection commands")
    ap.add_argument("--redis-url", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    result = base_result(
        "cli", runs=args.runs, command="python bench/cli_coldstart.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    )
    redis_version = None
    try:
        with private_redis(args.redis_url) as (url, srv):
            redis_version = srv.version() if srv else None
            h = HelpersDir()
            try:
                result["seed"] = seed(url, h, args.helpers)
                py = shlex.quote(sys.executable)
                cmds = {
                    "python -c pass": f"{py} -c pass",
                    "python -c 'import redis'": f"{py} -c 'import redis'",
                    BASELINE: f"{py} -c 'import redis, typer'",
                    "queuectl --version": shell_join(queuectl_argv("--version")),
                }
                for c in QUEUECTL_COMMANDS + OTHER_READS:
                    cmds["queuectl " + c] = shell_join(queuectl_argv(*c.split()))
                env = bytecode_env(queuectl_env(url, h.path))
                tool, times = time_commands(
                    cmds, runs=args.runs, warmup=args.warmup, env=env, cwd=h.path, use_hyperfine=not args.no_hyperfine
                )
                result["tool"] = tool
                result["commands"] = {k: {"cmd": cmds[k], **v} for k, v in times.items()}
            finally:
                h.cleanup()
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        result["error"] = repr(e)
    result["machine"] = machine_info(redis_version)
    cm = result.get("commands") or {}
    baseline = (cm.get(BASELINE) or {}).get("median_ms")
    result["import_redis_typer_median_ms"] = baseline
    within = []
    for c in QUEUECTL_COMMANDS:
        key = c.split()[0] + ("_list" if c.startswith("helpers") else "") + "_median_ms"
        median = (cm.get("queuectl " + c) or {}).get("median_ms")
        result[key] = median
        over = round(median - baseline, 1) if median is not None and baseline is not None else None
        result[key.replace("_median_ms", "_over_baseline_ms")] = over
        within.append(over is not None and over <= ALLOWANCE_MS)
    result["target_within_80ms_of_import_redis_typer"] = all(within)
    rows = [(k, v.get("median_ms"), v.get("min_ms"), v.get("stddev_ms"), v.get("runs")) for k, v in cm.items()]
    if args.peers:
        import peers as peers_mod

        pr = peers_mod.run_cli(runs=args.runs)
        result["peers"] = pr.get("commands")
        result["peer_errors"] = pr.get("errors")
        result["peer_versions"] = peers_mod.versions()
        inspect = {
            k: v for k, v in (pr.get("commands") or {}).items() if v.get("kind") != "baseline" and v.get("median_ms")
        }
        for k, v in (pr.get("commands") or {}).items():
            rows.append((f"peer: {k}", v.get("median_ms"), v.get("min_ms"), v.get("stddev_ms"), v.get("runs")))
        if inspect:
            fastest = min(inspect.items(), key=lambda kv: kv[1]["median_ms"])
            result["fastest_peer_command"] = fastest[0]
            result["fastest_peer_median_ms"] = fastest[1]["median_ms"]
    print_table(
        ["command", "median ms", "min ms", "stddev ms", "runs"],
        rows,
        title=f"CLI cold start ({result.get('tool')}, {args.runs} runs, {args.warmup} warm-up)",
    )
    print(
        f"target (status --json and helpers list --json within {ALLOWANCE_MS:g} ms of {BASELINE}, "
        f"{baseline} ms): {'PASS' if result['target_within_80ms_of_import_redis_typer'] else 'FAIL'} "
        f"(+{result.get('status_over_baseline_ms')} / +{result.get('helpers_list_over_baseline_ms')} ms)"
    )
    if result.get("error"):
        print(f"error: {result['error']}")
    emit(result, args.out)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    install_sigterm()
    sys.exit(main())
