#!/usr/bin/env python3
"""Dispatch rate: N executions of a no-op helper due in the same second, one dispatcher.

  python bench/dispatch.py                    # 10,000 due at once, `queuectl run --concurrency 10`
  python bench/dispatch.py -n 200 --warmup 5  # smoke run (seconds)
  python bench/dispatch.py --peers            # + the fastest peers, same N, same machine, same run
  python bench/dispatch.py --py-spy /tmp/dispatch.raw   # + a py-spy profile of the dispatcher

Method (the peer harness's throughput metric, applied to queuectl):
  1. a private redis-server; one `queuectl run --concurrency C` (isolation on: every helper runs
     in one of C long-lived worker processes, never in the dispatcher);
  2. warm-up: a few helpers due ~2 s later, synced with `queuectl helpers sync`, all run;
  3. N helpers, each a daily schedule (UTC) at the same whole second T, generated into one
     module and registered+planned with `queuectl helpers sync` (the "enqueue"); T leaves a
     margin for the sync and for the dispatcher's rescan/preload of the new file;
  4. each helper's run() appends `id executionTime start pid` to a probe file as its first
     statement; start - executionTime is its lateness.
Reported: throughput = N / (last start - T) (includes the wait before the first start),
steady rate = (N-1) / (last - first start), lateness percentiles of the burst, "last start
within 1 s" (issue target 2), Redis commands and CPU per job over the dispatch phase.
Issue target 1: throughput >= 4x the fastest peer measured in the same run (--peers).
Prints a table, then ONE JSON line last.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
import traceback
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    DispatcherSession,
    PySpy,
    base_result,
    commands_processed,
    commandstats,
    commandstats_delta,
    count_in_log,
    emit,
    execution_ids,
    install_sigterm,
    log,
    machine_info,
    median,
    print_table,
    summarize,
    sync,
    wait_until_wall,
)

RESCAN_LINE = "helpers found ("


def auto_margin(n: int) -> float:
    """Seconds from now to T: sync (~0.35 ms/helper measured) + the dispatcher's next tick (1 s),
    its rescan in a child process and the workers' preload of the new module, with slack."""
    return 4.0 + n * 0.0008


def one_run(args: argparse.Namespace, run_no: int) -> dict[str, Any]:
    res: dict[str, Any] = {"n": args.n, "concurrency": args.concurrency}
    with DispatcherSession(
        concurrency=args.concurrency,
        warmup=args.warmup,
        extra_args=shlex.split(args.run_args or ""),
        redis_url=args.redis_url,
    ) as s:
        r = s.client()
        res["redis_version"] = s.server.version() if s.server else r.info("server").get("redis_version")
        margin = args.margin if args.margin is not None else auto_margin(args.n)
        t_due = float(math.ceil(time.time() + margin))
        rescans_before = count_in_log(s.proc, RESCAN_LINE)
        jobs = s.helpers.daily(f"bench_d{run_no:02d}", f"d{run_no:02d}_", [t_due] * args.n)
        ids = execution_ids(jobs)
        report, sync_s = sync(s.url, s.helpers.path)
        t_sync_end = time.time()
        created = report.get("executions_created")
        if created is not None and created < args.n:
            raise RuntimeError(f"sync planned {created} executions, expected {args.n}: {report}")
        # the dispatch phase starts just before T (idle ticks before it are not counted)
        wait_until_wall(t_due - 0.25)
        rescanned = count_in_log(s.proc, RESCAN_LINE) > rescans_before
        spy = (
            PySpy(s.proc.pid, args.py_spy, rate=args.py_spy_rate, subprocesses=args.py_spy_workers)
            if args.py_spy
            else None
        )
        cpu_d0, cpu_r0 = s.proc.cpu_seconds(), s.redis_cpu()
        cmds0, stats0 = commands_processed(r), commandstats(r)
        ok = s.reader.wait_for(set(ids), args.timeout + max(0.0, t_due - time.time()), s.proc)
        t_end = time.time()
        cpu_d1, cpu_r1 = s.proc.cpu_seconds(), s.redis_cpu()
        cmds1, stats1 = commands_processed(r), commandstats(r)
        if spy:
            spy.stop()
            res["py_spy"] = {"file": args.py_spy, **spy.summary()}
        s.reader.poll()
        seen, dups = s.reader.by_id(ids)
        starts = sorted(v[1] for v in seen.values())
        n_ok = len(starts)
        late = [start - due for due, start, _ in seen.values()]
        first = starts[0] - t_due if starts else None
        last = starts[-1] - t_due if starts else None
        delta = commandstats_delta(stats0, stats1)
        evalsha = sum(v["calls"] for k, v in delta.items() if k in ("evalsha", "eval"))
        res.update(
            {
                "complete": ok,
                "started": n_ok,
                "duplicates": dups,
                "sync_s": round(sync_s, 3),
                "sync_us_per_execution": round(sync_s / args.n * 1e6, 1),
                "enqueue_overran_due": t_sync_end > t_due,
                "margin_s": round(margin, 2),
                "dispatcher_rescanned_before_due": rescanned,
                "first_start_after_due_s": round(first, 4) if starts else None,
                "last_start_after_due_s": round(last, 4) if starts else None,
                "throughput_jobs_per_s": round(n_ok / last, 1) if starts and last and last > 0 else None,
                "steady_jobs_per_s": (
                    round((n_ok - 1) / (starts[-1] - starts[0]), 1) if n_ok > 1 and starts[-1] > starts[0] else None
                ),
                "last_start_within_1s": bool(ok and last is not None and last <= 1.0),
                "lateness_ms": summarize(late, scale=1000.0, ndigits=1),
                "worker_pids": len({v[2] for v in seen.values()}),
                "redis_cmds_per_job": round((cmds1 - cmds0 - 2) / max(n_ok, 1), 2),
                "evalsha_per_job": round(evalsha / max(n_ok, 1), 3),
                "redis_usec_per_job": round(
                    sum(v["usec"] for k, v in delta.items() if k not in ("evalsha", "eval")) / max(n_ok, 1), 1
                ),
                "dispatcher_and_workers_cpu_s_per_1k": round((cpu_d1 - cpu_d0) / max(n_ok, 1) * 1000, 3),
                "redis_cpu_s_per_1k": round((cpu_r1 - cpu_r0) / max(n_ok, 1) * 1000, 3) if s.server else None,
                "wall_after_due_s": round(t_end - t_due, 3),
                "top_commands": sorted(([k, v["calls"]] for k, v in delta.items()), key=lambda kv: -kv[1])[:8],
            }
        )
        if ok:
            s.ok = True
    return res


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r.get("complete") and not r.get("enqueue_overran_due")]
    keys = (
        "throughput_jobs_per_s",
        "steady_jobs_per_s",
        "first_start_after_due_s",
        "last_start_after_due_s",
        "redis_cmds_per_job",
        "dispatcher_and_workers_cpu_s_per_1k",
        "redis_cpu_s_per_1k",
        "sync_s",
    )
    out: dict[str, Any] = {k: median(r.get(k) for r in good) for k in keys}
    out["lateness_p50_ms"] = median((r.get("lateness_ms") or {}).get("p50") for r in good)
    out["lateness_p99_ms"] = median((r.get("lateness_ms") or {}).get("p99") for r in good)
    out["runs"] = len(runs)
    out["good_runs"] = len(good)
    out["complete"] = bool(runs) and all(r.get("complete") for r in runs)
    out["last_start_within_1s"] = bool(good) and all(r.get("last_start_within_1s") for r in good)
    return out


def peer_summary(peer_runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out = {}
    for target, runs in peer_runs.items():
        good = [r for r in runs if r.get("complete") and not r.get("enqueue_overran_due") and not r.get("error")]
        out[target] = {
            "throughput_jobs_per_s": median(r.get("throughput_jobs_per_s") for r in good),
            "last_start_after_due_s": median(r.get("last_start_after_due_s") for r in good),
            "redis_cmds_per_job": median(r.get("redis_cmds_per_job") for r in good),
            "n": runs[0].get("n") if runs else None,
            "runs": len(runs),
            "good_runs": len(good),
            "errors": [r.get("error") for r in runs if r.get("error")],
            "model": runs[0].get("model") if runs else None,
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10000, help="executions due at the same second (default 10000)")
    ap.add_argument("--concurrency", type=int, default=10, help="queuectl run --concurrency (worker processes)")
    ap.add_argument("--warmup", type=int, default=20, help="warm-up executions before measuring")
    ap.add_argument(
        "--margin", type=float, default=None, help="seconds from scheduling to the due time (default 4 + 0.8 ms x N)"
    )
    ap.add_argument("--timeout", type=float, default=240.0, help="max seconds to wait after the due time")
    ap.add_argument("--repeat", type=int, default=1, help="queuectl runs (median reported)")
    ap.add_argument("--run-args", default="", help="extra arguments for `queuectl run`, e.g. '--tick 0.5'")
    ap.add_argument("--redis-url", default=None, help="use this Redis instead of a private one (it is NOT flushed)")
    ap.add_argument(
        "--py-spy",
        default=None,
        metavar="FILE",
        help="record the dispatcher with py-spy (collapsed stacks to FILE) during the dispatch phase",
    )
    ap.add_argument("--py-spy-rate", type=int, default=200, help="with --py-spy: samples per second")
    ap.add_argument("--py-spy-workers", action="store_true", help="with --py-spy: include the worker processes")
    ap.add_argument("--peers", action="store_true", help="also run the peers (shared harness, peer venvs)")
    ap.add_argument(
        "--peer-targets",
        default=None,
        help="comma-separated peer targets or 'all' (default: apscheduler,huey,celery-eta,arq-tuned)",
    )
    ap.add_argument("--peer-n", type=int, default=None, help="jobs per peer run (default: -n)")
    ap.add_argument("--peer-repeat", type=int, default=1)
    ap.add_argument("--out", default=None, help="also append the JSON line to this file")
    args = ap.parse_args()

    result = base_result(
        "dispatch",
        n=args.n,
        concurrency=args.concurrency,
        command="python bench/dispatch.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        model=f"queuectl: N helpers, each daily at the same UTC second, registered+planned by "
        f"`queuectl helpers sync`; one `queuectl run --concurrency {args.concurrency}` "
        f"dispatcher, helpers run in {args.concurrency} worker processes (isolation on)",
    )
    runs: list[dict[str, Any]] = []
    try:
        for i in range(args.repeat):
            log(f"queuectl run {i + 1}/{args.repeat}: n={args.n}")
            try:
                runs.append(one_run(args, i + 1))
            except Exception as e:  # noqa: BLE001 - one JSON line whatever happens
                traceback.print_exc()
                runs.append({"error": repr(e), "complete": False})
        peers: dict[str, list[dict[str, Any]]] = {}
        if args.peers:
            import peers as peers_mod

            targets = peers_mod.parse_targets(args.peer_targets, "throughput")
            peers = peers_mod.run_many("throughput", targets, n=args.peer_n or args.n, repeat=args.peer_repeat)
            result["peer_versions"] = peers_mod.versions()
    except KeyboardInterrupt as e:
        runs.append({"error": repr(e), "complete": False})
        peers = {}
    q = aggregate(runs)
    result["queuectl"] = q
    result["queuectl_runs"] = runs
    # flat copies of the headline figures (what CI's smoke test and chart.py read)
    for k in (
        "throughput_jobs_per_s",
        "steady_jobs_per_s",
        "last_start_after_due_s",
        "lateness_p50_ms",
        "lateness_p99_ms",
        "complete",
        "last_start_within_1s",
    ):
        result[k] = q.get(k)
    result["machine"] = machine_info(runs[0].get("redis_version") if runs else None)

    print_table(
        [
            "run",
            "n",
            "complete",
            "jobs/s",
            "steady/s",
            "first s",
            "last s",
            "p50 ms",
            "p99 ms",
            "cmds/job",
            "CPU s/1k",
            "sync s",
        ],
        [
            (
                f"queuectl #{i + 1}",
                r.get("started"),
                r.get("complete"),
                r.get("throughput_jobs_per_s"),
                r.get("steady_jobs_per_s"),
                r.get("first_start_after_due_s"),
                r.get("last_start_after_due_s"),
                (r.get("lateness_ms") or {}).get("p50"),
                (r.get("lateness_ms") or {}).get("p99"),
                r.get("redis_cmds_per_job"),
                r.get("dispatcher_and_workers_cpu_s_per_1k"),
                r.get("sync_s"),
            )
            for i, r in enumerate(runs)
        ],
        title=f"queuectl dispatch: {args.n:,} executions due in the same second, concurrency {args.concurrency}",
    )
    for r in runs:
        if r.get("error"):
            print(f"error: {r['error']}")
    if peers:
        ps = peer_summary(peers)
        result["peers"] = ps
        result["peer_runs"] = peers
        best_name, best = None, None
        for name, p in ps.items():
            if p["throughput_jobs_per_s"] and (best is None or p["throughput_jobs_per_s"] > best):
                best_name, best = name, p["throughput_jobs_per_s"]
        ratio = (q["throughput_jobs_per_s"] / best) if best and q.get("throughput_jobs_per_s") else None
        result["fastest_peer"] = best_name
        result["ratio_vs_fastest_peer"] = round(ratio, 2) if ratio else None
        result["target_4x_fastest_peer"] = bool(ratio and ratio >= 4.0)
        rows = [
            (
                "queuectl",
                args.n,
                q.get("throughput_jobs_per_s"),
                q.get("last_start_after_due_s"),
                q.get("redis_cmds_per_job"),
                1.0 if ratio else None,
            )
        ]
        for name, p in sorted(ps.items(), key=lambda kv: -(kv[1]["throughput_jobs_per_s"] or 0)):
            rows.append(
                (
                    name,
                    p["n"],
                    p["throughput_jobs_per_s"],
                    p["last_start_after_due_s"],
                    p["redis_cmds_per_job"],
                    round(q["throughput_jobs_per_s"] / p["throughput_jobs_per_s"], 2)
                    if p["throughput_jobs_per_s"] and q.get("throughput_jobs_per_s")
                    else None,
                )
            )
        print_table(
            ["system", "n", "jobs/s", "last start s", "cmds/job", "queuectl / system"],
            rows,
            title="against peers (same machine, same run)",
        )
        print(
            f"target 1 (>= 4x fastest peer {best_name}): {'PASS' if result['target_4x_fastest_peer'] else 'FAIL'}"
            f" (ratio {result['ratio_vs_fastest_peer']})"
        )
    print(
        f"target 2b (10k at once, last start within 1 s): "
        f"{'PASS' if q.get('last_start_within_1s') else 'FAIL'} (last {q.get('last_start_after_due_s')} s)"
    )
    if runs and runs[0].get("py_spy"):
        sp = runs[0]["py_spy"]
        print_table(
            ["function (self time)", "% samples"],
            sp.get("self_pct", [])[:12],
            title=f"py-spy, dispatcher, dispatch phase ({sp.get('samples')} samples, {sp.get('file')})",
        )
    emit(result, args.out)
    return 0 if q.get("complete") else 1


if __name__ == "__main__":
    install_sigterm()
    sys.exit(main())
