#!/usr/bin/env python3
"""Scale: planning 10k helpers' 2 h window, tick cost vs. queue size, `queue show` at 100k.

  python bench/scale.py                                  # all three parts
  python bench/scale.py --part plan --plan-helpers 10000 # one part
  python bench/scale.py --sizes 1000,10000 --plan-helpers 500 --ticks 10 --show-runs 3  # quicker

(plan) H helpers (default 10,000; --plan-mix: `mixed` = a third each of daily (one occurrence
  in the window), interval every 15 min (8) and cron hourly (2); or all `daily`, `interval`,
  `cron`) are discovered and registered with queuectl's own code (plan=False); then the 2 h
  window is planned with store.planner.plan on the records register wrote (what `queuectl run`
  does at start-up and every expand_every with its copy of the catalog): cold (everything new),
  then again (everything exists: the periodic re-plan).
  Also `queuectl helpers sync` end to end on an empty database (discover + register + plan).
  Issue target: cold plan of 10k helpers' window <= 2 s.
(tick) For each queue size (default 1k, 10k, 100k queued, none due for 10 min, from 1,000
  daily helpers at distinct times, planned over size/1000 days), the dispatcher's own periodic
  steps are called in process on a real Dispatcher object (reap, expiry sweep, heartbeat,
  epoch check, catalog check, claim: one tick), --ticks times: wall ms per tick, Redis
  commands per tick (INFO deltas), Redis usec per tick (commandstats). The re-plan (`expand`,
  every 300 s by default) is timed separately, and an idle `queuectl run` is watched for
  --idle-seconds (commands/s and CPU). Issue target: tick cost flat from 1k to 100k.
(show) `queuectl queue show --limit 20` (and --json) as a fresh process at each size: median
  of --show-runs (hyperfine if installed). Issue target: <= 300 ms at 100k.
Prints tables, then ONE JSON line last.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
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
    commands_processed,
    commandstats,
    commandstats_delta,
    emit,
    hms,
    install_sigterm,
    log,
    machine_info,
    median,
    new_tmpdir,
    open_app,
    print_table,
    private_redis,
    queuectl_argv,
    queuectl_env,
    run_queuectl,
    shell_join,
    start_dispatcher,
    time_commands,
    wait_dispatcher_ready,
)

WINDOW = 7200


def register(app: Any, helpers_dir: str) -> list[Any]:
    """Discover and register (no planning); the records register wrote."""
    from queuectl.runtime.discovery import discover
    from queuectl.store import control

    found = discover(helpers_dir, default_timezone=app.default_timezone, timeout=300)
    return list(control.register(app, found, helpers_dir, plan=False).records.values())


def plan(app: Any, records: list[Any]) -> Any:
    from queuectl.store import planner

    return planner.plan(app.scripts, records, now=app.clock.time(), window=WINDOW, history_ttl=app.settings.history_ttl)


def write_plan_helpers(h: HelpersDir, count: int, mix: str) -> dict[str, int]:
    """count helpers of the chosen mix; daily ones get times spread over the next window."""
    now = time.time()
    kinds = {"mixed": ["daily", "interval", "cron"], "daily": ["daily"], "interval": ["interval"], "cron": ["cron"]}[
        mix
    ]
    rows: list[tuple[str, dict[str, Any]]] = []
    counts: dict[str, int] = {}
    for i in range(count):
        kind = kinds[i % len(kinds)]
        counts[kind] = counts.get(kind, 0) + 1
        name = f"plan_{i:06d}"
        if kind == "daily":
            t = now + 120 + (i * 7919) % (WINDOW - 600)
            rows.append((name, {"type": "daily", "time": hms(t), "timezone": "UTC"}))
        elif kind == "interval":
            rows.append((name, {"type": "interval", "interval_minutes": 15}))
        else:
            rows.append((name, {"type": "cron", "cron": "0 * * * *", "timezone": "UTC"}))
    h.write("bench_plan", rows, {"priority": 3, "enabled": True})
    return counts


def part_plan(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from queuectl.domain import keys

    res: dict[str, Any] = {"helpers": args.plan_helpers, "mix": args.plan_mix, "window_s": WINDOW}
    h = HelpersDir()
    try:
        res["kinds"] = write_plan_helpers(h, args.plan_helpers, args.plan_mix)
        app = open_app(url, h.path)
        r = app.client
        r.flushdb()
        t0 = time.perf_counter()
        records = register(app, h.path)
        res["discover_register_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        rep = plan(app, records)
        res["plan_cold_s"] = round(time.perf_counter() - t0, 3)
        res["executions_created"] = rep.created
        res["queued"] = int(r.zcard(keys.EXECUTION_QUEUE))
        t0 = time.perf_counter()
        rep2 = plan(app, records)
        res["plan_again_s"] = round(time.perf_counter() - t0, 3)
        res["plan_again_created"] = rep2.created
        if args.profile:  # a second cold plan under cProfile (its overhead stays out of the timings)
            r.flushdb()
            records = register(app, h.path)
            prof = cProfile.Profile()
            prof.enable()
            plan(app, records)
            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(18)
            res["profile_top"] = s.getvalue()[-6000:]
            log("cProfile of the cold plan (cumulative):\n" + s.getvalue())
        # end to end, as an operator would: empty database, `queuectl helpers sync`
        r.flushdb()
        p, dt = run_queuectl(["helpers", "sync", "--json"], queuectl_env(url, h.path), timeout=900)
        res["cli_sync_s"] = round(dt, 3)
        res["target_plan_le_2s"] = res["plan_cold_s"] <= 2.0
    finally:
        h.cleanup()
    return res


def fill(app: Any, h: HelpersDir, size: int, helpers: int) -> int:
    """`size` queued executions, none due for the next ~10 minutes: `helpers` daily helpers at
    distinct times of day (spread over [now+10 min, now+24 h-10 min)), planned over a window of
    size/helpers days with a 30 s expiry. Distinct times matter: interval and cron schedules are
    aligned to the epoch, so helpers sharing a period all fall due at the same instant."""
    from queuectl.domain import keys
    from queuectl.store import catalog, planner

    days = max(1, round(size / helpers))
    app.client.flushdb()
    for f in list(os.listdir(h.path)):
        os.unlink(os.path.join(h.path, f))
    now = time.time()
    span = 86400 - 1200
    rows = [(f"tick_{i:06d}", {"time": hms(now + 600 + i * span / helpers)}) for i in range(helpers)]
    h.write("bench_tick", rows, {"type": "daily", "timezone": "UTC", "priority": 3, "expiry": 30, "enabled": True})
    register(app, h.path)
    records = catalog.read_all(app.client).values()
    planner.plan(app.scripts, records, now=now, window=days * 86400 - 300, history_ttl=app.settings.history_ttl)
    return int(app.client.zcard(keys.EXECUTION_QUEUE))


def tick_cost(app: Any, h: HelpersDir, ticks: int) -> dict[str, Any]:
    """One dispatcher tick's steps, on a real Dispatcher object, `ticks` times."""
    from queuectl.runtime.dispatcher import Dispatcher

    d = Dispatcher(app)  # app's settings: helpers_dir = h.path, the default concurrency (10)
    try:
        d.registry.refresh(force=True)
        d.upkeep.start_epoch()
        r = app.client
        steps = {
            "reap": d.upkeep.reap,
            "sweep": d.upkeep.sweep,
            "heartbeat": d.heartbeat,
            "check_epoch": d.upkeep.data_lost,
            "refresh_records": d.registry.refresh,
            "claim": d.claim,
        }
        per_step: dict[str, list[float]] = {s: [] for s in steps}
        totals = []
        c0, s0 = commands_processed(r), commandstats(r)
        for _ in range(ticks):
            t_tick = time.perf_counter()
            for name, step in steps.items():
                t0 = time.perf_counter()
                step()
                per_step[name].append(time.perf_counter() - t0)
            totals.append(time.perf_counter() - t_tick)
        c1, s1 = commands_processed(r), commandstats(r)
        delta = commandstats_delta(s0, s1)
        started = len(d.leases.running)
        t0 = time.perf_counter()
        d.upkeep.expand()  # the periodic window extension (rescan + prune + re-plan everything)
        expand_s = time.perf_counter() - t0
        return {
            "tick_ms_p50": round(median(totals) * 1000, 3),
            "tick_ms_max": round(max(totals) * 1000, 3),
            "step_ms_p50": {s: round(median(v) * 1000, 3) for s, v in per_step.items()},
            "redis_cmds_per_tick": round((c1 - c0 - 1) / ticks, 1),
            "redis_usec_per_tick": round(
                sum(v["usec"] for k, v in delta.items() if k not in ("evalsha", "eval")) / ticks, 1
            ),
            "lua_usec_per_tick": round(sum(v["usec"] for k, v in delta.items() if k in ("evalsha", "eval")) / ticks, 1),
            "commands": {k: round(v["calls"] / ticks, 2) for k, v in sorted(delta.items())},
            "claimed_during_ticks": started,
            "expand_s": round(expand_s, 3),
        }
    finally:
        d.pool.close()


def idle_run(url: str, h: HelpersDir, seconds: float) -> dict[str, Any]:
    """An idle `queuectl run` over `seconds`: Redis commands/s, Redis usec/s, dispatcher CPU."""
    import redis

    tmp = new_tmpdir("qcbench-idle-")
    r = redis.Redis.from_url(url, decode_responses=True)
    proc = start_dispatcher(url, h.path, None, tmp)
    try:
        wait_dispatcher_ready(proc, timeout=300)
        time.sleep(2.5)  # past start-up and its first ticks
        c0, s0, cpu0, t0 = commands_processed(r), commandstats(r), proc.cpu_seconds(), time.time()
        time.sleep(seconds)
        c1, s1, cpu1, t1 = commands_processed(r), commandstats(r), proc.cpu_seconds(), time.time()
        dt = t1 - t0
        delta = commandstats_delta(s0, s1)
        return {
            "seconds": round(dt, 2),
            "redis_cmds_per_s": round((c1 - c0 - 1) / dt, 1),
            "redis_usec_per_s": round(sum(v["usec"] for k, v in delta.items() if k not in ("evalsha", "eval")) / dt, 1),
            "dispatcher_cpu_ms_per_s": round((cpu1 - cpu0) / dt * 1000, 1),
            "evalsha_per_s": round(sum(v["calls"] for k, v in delta.items() if k in ("evalsha", "eval")) / dt, 2),
        }
    finally:
        proc.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def queue_show(app: Any, url: str, h: HelpersDir, runs: int, use_hyperfine: bool) -> dict[str, Any]:
    from queuectl.store import queue

    t0 = time.perf_counter()
    for _ in range(5):
        queue.show(app.client, limit=20)
    inproc_ms = (time.perf_counter() - t0) / 5 * 1000
    env = bytecode_env(queuectl_env(url, h.path))
    cmds = {
        "queue show --limit 20": shell_join(queuectl_argv("queue", "show", "--limit", "20")),
        "queue show --limit 20 --json": shell_join(queuectl_argv("queue", "show", "--limit", "20", "--json")),
    }
    tool, times = time_commands(cmds, runs=runs, warmup=2, env=env, cwd=h.path, use_hyperfine=use_hyperfine)
    return {
        "tool": tool,
        "inprocess_ms": round(inproc_ms, 2),
        "cli_median_ms": times["queue show --limit 20"]["median_ms"],
        "cli_json_median_ms": times["queue show --limit 20 --json"]["median_ms"],
        "times": times,
    }


def part_sizes(args: argparse.Namespace, url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    h = HelpersDir()
    try:
        app = open_app(url, h.path)
        for size in [int(x) for x in args.sizes.split(",") if x]:
            log(f"queue size {size:,}: filling")
            t0 = time.perf_counter()
            queued = fill(app, h, size, args.tick_helpers)
            row: dict[str, Any] = {"queued": queued, "fill_s": round(time.perf_counter() - t0, 2)}
            if "tick" in args.parts:
                row["tick"] = tick_cost(app, h, args.ticks)
                if args.idle_seconds > 0:
                    row["idle_run"] = idle_run(url, h, args.idle_seconds)
            if "show" in args.parts:
                row["queue_show"] = queue_show(app, url, h, args.show_runs, not args.no_hyperfine)
            out[str(size)] = row
    finally:
        h.cleanup()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--part",
        action="append",
        choices=["plan", "tick", "show"],
        help="run only these parts (repeatable; default all)",
    )
    ap.add_argument("--plan-helpers", type=int, default=10_000)
    ap.add_argument("--plan-mix", choices=["mixed", "daily", "interval", "cron"], default="mixed")
    ap.add_argument("--profile", action="store_true", help="cProfile the cold plan (top functions to stderr/JSON)")
    ap.add_argument("--sizes", default="1000,10000,100000", help="queue sizes for tick/show (comma-separated)")
    ap.add_argument("--tick-helpers", type=int, default=1000, help="helpers the queued executions come from")
    ap.add_argument("--ticks", type=int, default=30, help="ticks timed per size")
    ap.add_argument(
        "--idle-seconds", type=float, default=5.0, help="watch an idle `queuectl run` this long per size (0 = skip)"
    )
    ap.add_argument("--show-runs", type=int, default=10, help="runs of `queue show` per size (median)")
    ap.add_argument("--no-hyperfine", action="store_true")
    ap.add_argument("--redis-url", default=None, help="use this Redis (it is FLUSHED: never point it at real data)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.parts = set(args.part or ["plan", "tick", "show"])
    result = base_result("scale", command="python bench/scale.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    redis_version = None
    try:
        with private_redis(args.redis_url) as (url, srv):
            redis_version = srv.version() if srv else None
            if "plan" in args.parts:
                try:
                    result["plan"] = part_plan(args, url)
                except Exception as e:  # noqa: BLE001
                    traceback.print_exc()
                    result["plan"] = {"error": repr(e)}
            if args.parts & {"tick", "show"}:
                try:
                    result["sizes"] = part_sizes(args, url)
                except Exception as e:  # noqa: BLE001
                    traceback.print_exc()
                    result["sizes_error"] = repr(e)
    except KeyboardInterrupt as e:
        result["error"] = repr(e)
    result["machine"] = machine_info(redis_version)

    p = result.get("plan")
    if p:
        print_table(
            ["measure", "value"],
            [
                ("helpers", p.get("helpers")),
                ("mix", f"{p.get('mix')} {p.get('kinds')}"),
                ("executions planned (cold)", p.get("executions_created")),
                ("discover + register, s", p.get("discover_register_s")),
                ("plan 2 h window, cold, s", p.get("plan_cold_s")),
                ("plan again (all exist), s", p.get("plan_again_s")),
                ("`queuectl helpers sync` on empty db, s", p.get("cli_sync_s")),
                ("error", p.get("error")),
            ],
            title=f"planning the 2 h window for {args.plan_helpers:,} helpers",
        )
        result["plan_cold_s"] = p.get("plan_cold_s")
    sizes = result.get("sizes") or {}
    if sizes and "tick" in args.parts:
        rows = []
        for row in sizes.values():
            t = row.get("tick") or {}
            idle = row.get("idle_run") or {}
            rows.append(
                (
                    row["queued"],
                    t.get("tick_ms_p50"),
                    t.get("tick_ms_max"),
                    t.get("redis_cmds_per_tick"),
                    t.get("lua_usec_per_tick"),
                    t.get("redis_usec_per_tick"),
                    t.get("expand_s"),
                    idle.get("redis_cmds_per_s"),
                    idle.get("dispatcher_cpu_ms_per_s"),
                )
            )
        print_table(
            [
                "queued",
                "tick ms p50",
                "tick ms max",
                "cmds/tick",
                "Lua µs/tick",
                "cmd µs/tick",
                "re-plan s",
                "idle run cmds/s",
                "idle CPU ms/s",
            ],
            rows,
            title="dispatcher tick cost vs. queue size (in process, real Dispatcher; re-plan = expand)",
        )
        ticks = [(row.get("tick") or {}).get("tick_ms_p50") for row in sizes.values()]
        cmds = [(row.get("tick") or {}).get("redis_cmds_per_tick") for row in sizes.values()]
        if all(ticks) and all(cmds):
            result["tick_ms_ratio_largest_vs_smallest"] = round(ticks[-1] / ticks[0], 2)
            result["tick_cmds_ratio_largest_vs_smallest"] = round(cmds[-1] / cmds[0], 2)
    if sizes and "show" in args.parts:
        rows = [
            (
                row["queued"],
                (row.get("queue_show") or {}).get("cli_median_ms"),
                (row.get("queue_show") or {}).get("cli_json_median_ms"),
                (row.get("queue_show") or {}).get("inprocess_ms"),
            )
            for row in sizes.values()
        ]
        print_table(
            ["queued", "queue show --limit 20, ms (median)", "... --json, ms", "in-process queue.show, ms"],
            rows,
            title="`queuectl queue show --limit 20` (fresh process each run)",
        )
        last = list(sizes.values())[-1].get("queue_show") or {}
        result["queue_show_ms_at_largest"] = last.get("cli_median_ms")
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    install_sigterm()
    sys.exit(main())
