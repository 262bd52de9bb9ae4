#!/usr/bin/env python3
"""Draw docs/benchmarks.png: dispatch rate and lateness, queuectl against the peers.

  pip install -e '.[bench]'                     # matplotlib, only through the `bench` extra
  python bench/chart.py                         # reads bench/results/*.jsonl
  python bench/chart.py results.jsonl --out /tmp/chart.png

Reads the JSON lines written by `bench/dispatch.py --out FILE` and `bench/lateness.py --out
FILE` (one object per run) and uses, per metric, the newest line that has peer figures (else
the newest line). Left: dispatch rate (N / (last start - due), jobs/s) with the 4x-fastest-peer
target; right: lateness p50 and p99 (ms, log scale) with the 2 ms p50 target. Prints what it
drew, then ONE JSON line last.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import REPO, RESULTS_DIR, emit, print_table  # noqa: E402


def load(paths: list[str]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        pass
    return rows


def pick(rows: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    mine = [r for r in rows if r.get("metric") == metric and r.get("target") == "queuectl" and r.get("complete")]
    with_peers = [r for r in mine if r.get("peers")]
    pool = with_peers or mine
    return max(pool, key=lambda r: r.get("ts", 0)) if pool else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="JSONL result files (default: bench/results/*.jsonl)")
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks.png"))
    args = ap.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    files = args.files or sorted(glob.glob(os.path.join(RESULTS_DIR, "*.jsonl")))
    rows = load(files)
    disp, late = pick(rows, "dispatch"), pick(rows, "lateness")
    if not disp and not late:
        print(f"no complete dispatch/lateness results in {files}", file=sys.stderr)
        return 1

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    drawn: dict[str, Any] = {}
    ax = axes[0]
    if disp:
        bars = [("queuectl", disp["queuectl"]["throughput_jobs_per_s"])]
        for name, p in (disp.get("peers") or {}).items():
            if p.get("throughput_jobs_per_s"):
                bars.append((name, p["throughput_jobs_per_s"]))
        bars.sort(key=lambda b: -(b[1] or 0))
        colors = ["#1f77b4" if n == "queuectl" else "#9e9e9e" for n, _ in bars]
        ax.bar([n for n, _ in bars], [v for _, v in bars], color=colors)
        for i, (_, v) in enumerate(bars):
            ax.text(i, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=9)
        peer_vals = [v for n, v in bars if n != "queuectl"]
        if peer_vals:
            ax.axhline(4 * max(peer_vals), color="#d62728", ls="--", lw=1)
            ax.text(
                len(bars) - 0.5,
                4 * max(peer_vals),
                "target: 4x fastest peer",
                color="#d62728",
                ha="right",
                va="bottom",
                fontsize=8,
            )
        ax.set_ylabel("jobs/s  (N / (last start - due))")
        ax.set_title(f"(1) dispatch rate: {disp['n']:,} due in the same second", fontsize=10)
        ax.tick_params(axis="x", labelrotation=20)
        drawn["dispatch"] = dict(bars)
    else:
        ax.text(0.5, 0.5, "no dispatch results", ha="center", transform=ax.transAxes)
    ax = axes[1]
    if late:
        q = late["queuectl"]
        groups = [("queuectl", q.get("p50_ms"), q.get("p99_ms"))]
        for name, p in (late.get("peers") or {}).items():
            if p.get("p50_ms") is not None:
                groups.append((name, p["p50_ms"], p["p99_ms"]))
        groups.sort(key=lambda g: g[2] or 1e9)
        xs = range(len(groups))
        w = 0.38
        ax.bar(
            [x - w / 2 for x in xs],
            [g[1] for g in groups],
            w,
            label="p50",
            color=["#1f77b4" if g[0] == "queuectl" else "#bdbdbd" for g in groups],
        )
        ax.bar(
            [x + w / 2 for x in xs],
            [g[2] for g in groups],
            w,
            label="p99",
            color=["#0b3c61" if g[0] == "queuectl" else "#616161" for g in groups],
        )
        for x, g in zip(xs, groups):
            ax.text(x - w / 2, g[1], f"{g[1]:.3g}", ha="center", va="bottom", fontsize=8)
            ax.text(x + w / 2, g[2], f"{g[2]:.3g}", ha="center", va="bottom", fontsize=8)
        ax.axhline(2.0, color="#d62728", ls="--", lw=1)
        ax.text(-0.5, 2.0, " target p50: 2 ms", color="#d62728", ha="left", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(list(xs), [g[0] for g in groups], rotation=20)
        ax.set_ylabel("start - due, ms (log)")
        ax.set_title(f"(2) lateness: {late['n']:,} over {late['span_s']:g} s, p50 (light) / p99 (dark)", fontsize=10)
        drawn["lateness"] = {g[0]: {"p50_ms": g[1], "p99_ms": g[2]} for g in groups}
    else:
        ax.text(0.5, 0.5, "no lateness results", ha="center", transform=ax.transAxes)
    src = disp or late
    m = (src or {}).get("machine") or {}
    when = time.strftime("%Y-%m-%d", time.gmtime((src or {}).get("ts", time.time())))
    fig.suptitle(
        f"queuectl vs peers, same machine, same run ({when}; {m.get('cpus')} vCPU {m.get('cpu_model') or ''}, "
        f"Python {m.get('python')}, Redis {m.get('redis_server')}; queuectl {m.get('queuectl_commit')})",
        fontsize=9,
    )
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=110)

    def when_utc(res: dict[str, Any] | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((res or {}).get("ts", 0)))

    print_table(
        ["chart", "source run (UTC)", "systems"],
        [(k, when_utc(disp if k == "dispatch" else late), ", ".join(v)) for k, v in drawn.items()],
        title=f"wrote {args.out}",
    )
    emit({"metric": "chart", "out": args.out, "files": files, "drawn": drawn})
    return 0


if __name__ == "__main__":
    sys.exit(main())
