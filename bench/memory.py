#!/usr/bin/env python3
"""Redis memory per queued execution: used_memory delta / N over N queued executions.

  python bench/memory.py                       # 100,000 queued (1,000 helpers x 100 in the 2 h window)
  python bench/memory.py -n 2000 --helpers 20  # smoke run
  python bench/memory.py --peers               # + peers' bytes per pending job (shared harness `enqueue`)
  python bench/memory.py --layout documented    # one layout only (documented, compact; default both)

Method: a private redis-server (no persistence); H interval helpers (every window*H/N seconds,
so each has N/H occurrences in the window) are generated into a temp helpers dir, discovered
and registered with queuectl's own code (control.register, plan=False); INFO used_memory is
read; then the window is planned (store.planner.plan on the records register wrote: plan.lua,
the code `queuectl run` and `queuectl helpers sync` use) and used_memory read again.
bytes/execution = delta / ZCARD. Both layouts are measured, each on a fresh server: the
documented one (the default: every queued execution has its `execution:{id}` hash from the
moment it is planned) and the opt-in compact one (setting compact_queue: the queue entry
alone, the hash written at the claim).
The catalog (one HASH field per helper) is registered before the first reading, so it is not
in the figure; its own size is reported per helper. Also reported: MEMORY USAGE of the queue
ZSET (its share per member) and its encoding, the keys planning added, MEMORY USAGE of a queued
execution's hash and of a claimed one's (one execution claimed after the reading), and the
plan rate.
Issue 11 target: <= 360 bytes per queued execution, hash included, in the documented layout.
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
    emit,
    install_sigterm,
    keep_tmp,
    log,
    machine_info,
    median,
    open_app,
    print_table,
    private_redis,
)

WINDOW = 7200


def settle(r: Any) -> int:
    time.sleep(0.3)
    return int(r.info("memory")["used_memory"])


def _claimed_hash(app: Any, execution_id: str) -> dict[str, Any]:
    """Claim the queue's head (after the readings) and report its hash: what each execution
    costs from its claim on, until its history TTL runs out."""
    from queuectl.domain import keys
    from queuectl.domain.models import format_time
    from queuectl.store.planner import keep_seconds
    from queuectl.store.scripts import ClaimRequest

    due = int(execution_id.rpartition(":")[2])
    app.scripts.claim(
        ClaimRequest(
            now=format_time(due),
            limit=1,
            owner="bench",
            lease_until=format_time(due + 30),
            token_prefix="bench",
            scan=10,
            keep=keep_seconds(86400),
        )
    )
    return _hash_facts(app.client, keys.execution_key(execution_id))


def _hash_facts(r: Any, key: str) -> dict[str, Any]:
    return {
        "bytes": int(r.memory_usage(key, samples=0) or 0),
        "encoding": r.object("encoding", key),
        "fields": sorted(r.hkeys(key)),
    }


def measure(args: argparse.Namespace, *, write_hashes: bool) -> dict[str, Any]:
    from queuectl.domain import keys
    from queuectl.runtime.discovery import discover
    from queuectl.store import control, planner

    per_helper = max(1, args.n // args.helpers)
    interval = max(1, WINDOW // per_helper)
    res: dict[str, Any] = {
        "layout": "documented" if write_hashes else "compact",
        "n_requested": args.n,
        "helpers": args.helpers,
        "interval_seconds": interval,
    }
    with private_redis(args.redis_url) as (url, srv):
        res["redis_version"] = srv.version() if srv else None
        helpers = HelpersDir()
        try:
            names = helpers.interval("bench_mem", args.prefix, args.helpers, interval, expiry=args.expiry)
            app = open_app(url, helpers.path)
            r = app.client
            base0 = settle(r)
            found = discover(helpers.path, default_timezone=app.default_timezone, timeout=120)
            records = control.register(app, found, helpers.path, plan=False).records.values()
            base1 = settle(r)
            keys0 = r.dbsize()
            t0 = time.perf_counter()
            report = planner.plan(
                app.scripts,
                records,
                now=app.clock.time(),
                window=WINDOW,
                history_ttl=app.settings.history_ttl,
                write_hashes=write_hashes,
            )
            plan_s = time.perf_counter() - t0
            after = settle(r)
            n = int(r.zcard(keys.EXECUTION_QUEUE))
            keys_added = r.dbsize() - keys0
            zset_bytes = int(r.memory_usage(keys.EXECUTION_QUEUE, samples=0) or 0)
            catalog_bytes = int(r.memory_usage(keys.AVAILABLE_HELPERS, samples=0) or 0)
            per_exec = (after - base1) / n if n else None
            head = r.zrange(keys.EXECUTION_QUEUE, 0, 0)
            queued_hash = _hash_facts(r, keys.execution_key(head[0])) if head and write_hashes else {}
            claimed_hash = _claimed_hash(app, head[0]) if head else {}
            res.update(
                {
                    "n": n,
                    "executions_created": report.created,
                    "keys_added": keys_added,
                    "hashes_per_queued_execution": round((keys_added - 1) / n, 3) if n else None,
                    "used_memory_before": base1,
                    "used_memory_after": after,
                    "bytes_per_execution": round(per_exec, 1) if per_exec else None,
                    "execution_id_len": len(head[0]) if head else None,
                    "zset_memory_usage_bytes": zset_bytes,
                    "zset_bytes_per_member": round(zset_bytes / n, 1) if n else None,
                    "zset_encoding": r.object("encoding", keys.EXECUTION_QUEUE),
                    "queued_hash_memory_usage_bytes": queued_hash.get("bytes"),
                    "queued_hash_encoding": queued_hash.get("encoding"),
                    "queued_hash_fields": queued_hash.get("fields"),
                    "claimed_hash_memory_usage_bytes": claimed_hash.get("bytes"),
                    "claimed_hash_encoding": claimed_hash.get("encoding"),
                    "claimed_hash_fields": claimed_hash.get("fields"),
                    "catalog_bytes_per_helper": round(catalog_bytes / args.helpers, 1),
                    "register_used_memory_delta_per_helper": round((base1 - base0) / args.helpers, 1),
                    "catalog_memory_usage_bytes": catalog_bytes,
                    "plan_s": round(plan_s, 3),
                    "plan_executions_per_s": round(n / plan_s, 1) if plan_s else None,
                    "mem_allocator": r.info("memory").get("mem_allocator"),
                }
            )
            del names
        finally:
            if keep_tmp():
                log(f"kept {helpers.path}")
            else:
                helpers.cleanup()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100_000, help="queued executions (default 100000)")
    ap.add_argument("--helpers", type=int, default=1000, help="helpers they come from (default 1000)")
    ap.add_argument("--prefix", default="report_", help="helper name prefix (names are PREFIX + 6 digits)")
    ap.add_argument("--expiry", type=int, default=None, help="executionExpiry (default: queuectl's default)")
    ap.add_argument("--redis-url", default=None, help="use this Redis (figures then include whatever else runs)")
    ap.add_argument("--peers", action="store_true", help="also measure peers' bytes per pending job")
    ap.add_argument("--peer-targets", default=None, help="default: huey,arq,rq,apscheduler,celery-eta")
    ap.add_argument("--peer-n", type=int, default=None, help="jobs per peer run (default: -n)")
    ap.add_argument("--layout", choices=("documented", "compact", "both"), default="both")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    result = base_result("memory", command="python bench/memory.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    layouts = {"documented": [True], "compact": [False], "both": [True, False]}[args.layout]
    measured: dict[str, dict[str, Any]] = {}
    for write_hashes in layouts:
        try:
            q = measure(args, write_hashes=write_hashes)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            q = {"layout": "documented" if write_hashes else "compact", "error": repr(e)}
        measured[q["layout"]] = q
    q = measured.get("documented") or measured["compact"]
    result["queuectl"] = q
    result["layouts"] = {name: m.get("bytes_per_execution") for name, m in measured.items()}
    if "compact" in measured and q is not measured["compact"]:
        result["queuectl_compact"] = measured["compact"]
    result["bytes_per_execution"] = q.get("bytes_per_execution")
    if q["layout"] == "documented":
        result["target_le_360_bytes"] = bool(q.get("bytes_per_execution") and q["bytes_per_execution"] <= 360)
    result["machine"] = machine_info(q.get("redis_version"))
    for m in measured.values():
        print_table(
            ["measure", "value"],
            [
                ("queued executions (N)", m.get("n")),
                ("helpers", m.get("helpers")),
                ("used_memory delta / N, bytes", m.get("bytes_per_execution")),
                ("queue ZSET share per member, bytes", m.get("zset_bytes_per_member")),
                ("  ZSET encoding", m.get("zset_encoding")),
                ("hashes written per queued execution", m.get("hashes_per_queued_execution")),
                ("MEMORY USAGE of a queued execution's hash, bytes", m.get("queued_hash_memory_usage_bytes")),
                (
                    "  its encoding / fields",
                    f"{m.get('queued_hash_encoding')} / {len(m.get('queued_hash_fields') or [])}",
                ),
                ("MEMORY USAGE of a claimed execution's hash, bytes", m.get("claimed_hash_memory_usage_bytes")),
                (
                    "  its encoding / fields",
                    f"{m.get('claimed_hash_encoding')} / {len(m.get('claimed_hash_fields') or [])}",
                ),
                ("execution id length, chars", m.get("execution_id_len")),
                ("catalog HASH bytes per helper (MEMORY USAGE / H)", m.get("catalog_bytes_per_helper")),
                ("plan time for N, s", m.get("plan_s")),
                ("plan rate, executions/s", m.get("plan_executions_per_s")),
            ],
            title=f"queuectl ({m.get('layout')} layout): Redis memory per queued execution",
        )
        if m.get("error"):
            print(f"error: {m['error']}")
    if args.peers:
        import peers as peers_mod

        targets = peers_mod.parse_targets(args.peer_targets, "enqueue")
        pr = peers_mod.run_many("enqueue", targets, n=args.peer_n or args.n)
        ps = {
            t: {
                "bytes_per_job": median(x.get("mem_bytes_per_job") for x in runs if not x.get("error")),
                "n": runs[0].get("n"),
                "errors": [x.get("error") for x in runs if x.get("error")],
            }
            for t, runs in pr.items()
        }
        result["peers"] = ps
        result["peer_runs"] = pr
        result["peer_versions"] = peers_mod.versions()
        rows = [(f"queuectl ({m['layout']})", m.get("n"), m.get("bytes_per_execution")) for m in measured.values()]
        rows += [
            (t, p["n"], p["bytes_per_job"]) for t, p in sorted(ps.items(), key=lambda kv: kv[1]["bytes_per_job"] or 1e9)
        ]
        print_table(["system", "n", "bytes per pending job"], rows, title="against peers (same machine, same run)")
    if "target_le_360_bytes" in result:
        print(
            "issue 11 target (<= 360 bytes per queued execution, hash included): "
            f"{'PASS' if result['target_le_360_bytes'] else 'MISSED'} ({q.get('bytes_per_execution')} bytes)"
        )
    emit(result, args.out)
    return 0 if not any("error" in m for m in measured.values()) else 1


if __name__ == "__main__":
    install_sigterm()
    sys.exit(main())
