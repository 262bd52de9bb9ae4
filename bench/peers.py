#!/usr/bin/env python3
"""Peer measurements for queuectl's benchmarks: rq, rq-scheduler, arq, huey, APScheduler, celery.

The peers are measured by the shared peer harness (``bench-peers``: ``run.py``,
``cli_coldstart.py``), run with the interpreter of a peer virtualenv; this module only creates
those venvs, invokes the harness and reads the JSON line it prints last. queuectl's own
measuring code is in the other bench scripts; they call `run_peer` for their ``--peers`` option
so every ratio comes from one run on one machine.

  python bench/peers.py setup                       # create/refresh the two peer venvs
  python bench/peers.py status                      # where things are, which versions
  python bench/peers.py run throughput --targets huey,apscheduler -n 10000
  python bench/peers.py run lateness --targets huey,apscheduler -n 1000 --span 60
  python bench/peers.py run enqueue --targets huey,rq -n 100000     # bytes per pending job
  python bench/peers.py run cli                     # inspection-command cold start (hyperfine)

Venvs live in $QUEUECTL_BENCH_CACHE (default ~/.cache/queuectl-bench), outside the repo:
``venv-peers`` (rq rq-scheduler arq huey 'apscheduler<4' redis hiredis) and ``venv-celery``
(celery celery-redbeat 'redis>=6.1' hiredis packaging): celery 5.7's Redis transport needs
redis-py >= 6.1 while arq 0.28 needs < 6. The harness is found at $QUEUECTL_BENCH_PEERS_DIR, else
../shared/bench-peers next to the repository, else /work/shared/bench-peers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import CACHE_DIR, REPO, bench_redis_binary, bytecode_env, emit, log, print_table  # noqa: E402

PEER_VENV = os.path.join(CACHE_DIR, "venv-peers")
CELERY_VENV = os.path.join(CACHE_DIR, "venv-celery")
PEER_PACKAGES = ["rq", "rq-scheduler", "arq", "huey", "apscheduler<4", "redis", "hiredis"]
CELERY_PACKAGES = ["celery", "celery-redbeat", "redis>=6.1", "hiredis", "packaging"]

#: Peers worth running by default per metric (the fast ones; rq's fork-per-job worker needs
#: -n 2000 and minutes, add it with --targets).
DEFAULT_TARGETS = {
    "throughput": ["apscheduler", "huey", "celery-eta", "arq-tuned"],
    "lateness": ["apscheduler", "celery-eta", "huey", "arq-tuned"],
    "enqueue": ["huey", "arq", "rq", "apscheduler", "celery-eta"],
}
ALL_TARGETS = [
    "rq",
    "rq-simple",
    "rq-scheduler",
    "rq-scheduler-simple",
    "arq",
    "arq-tuned",
    "huey",
    "apscheduler",
    "celery-eta",
    "celery-eta-solo",
]


def harness_dir() -> str:
    for cand in (
        os.environ.get("QUEUECTL_BENCH_PEERS_DIR"),
        os.path.join(os.path.dirname(REPO), "shared", "bench-peers"),
        "/work/shared/bench-peers",
    ):
        if cand and os.path.exists(os.path.join(cand, "run.py")):
            return cand
    raise SystemExit("peer harness not found: set QUEUECTL_BENCH_PEERS_DIR to the bench-peers directory")


def python_for(target: str) -> str:
    venv = CELERY_VENV if target.startswith("celery") else PEER_VENV
    return os.path.join(venv, "bin", "python")


def venvs_ready() -> bool:
    return os.path.exists(python_for("huey")) and os.path.exists(python_for("celery-eta"))


def setup(force: bool = False) -> None:
    """Create the two venvs with the peers from PyPI (pip, the ordinary client)."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    base = os.environ.get("QUEUECTL_BENCH_PEER_PYTHON", "python3")
    for venv, pkgs in ((PEER_VENV, PEER_PACKAGES), (CELERY_VENV, CELERY_PACKAGES)):
        py = os.path.join(venv, "bin", "python")
        if os.path.exists(py) and not force:
            log(f"{venv}: exists (use `setup --force` to reinstall)")
            continue
        log(f"creating {venv}: {' '.join(pkgs)}")
        subprocess.run([base, "-m", "venv", "--clear", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", *pkgs], check=True)


def ensure_venvs() -> None:
    if not venvs_ready():
        setup()


def _env() -> dict[str, str]:
    # the shared harness directory may be read-only and the shell may say
    # PYTHONDONTWRITEBYTECODE=1: keep bytecode in our cache so peers' start-up is not inflated
    # by recompiling on every start (queuectl's own cold-start timing does the same)
    env = bytecode_env(dict(os.environ))
    env.setdefault("BENCH_REDIS_PORT", "6390")
    binary = bench_redis_binary()  # the server queuectl is measured on
    if binary:
        env.setdefault("BENCH_REDIS_SERVER", binary)
    return env


def last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def run_peer(
    metric: str,
    target: str,
    *,
    n: int | None = None,
    span: float | None = None,
    extra: list[str] | None = None,
    timeout: float = 900,
) -> dict[str, Any]:
    """One shared-harness run (`run.py --target T --metric M`) with the right venv; its JSON."""
    ensure_venvs()
    hd = harness_dir()
    argv = [python_for(target), os.path.join(hd, "run.py"), "--target", target, "--metric", metric]
    if n is not None:
        argv += ["-n", str(n)]
    if span is not None:
        argv += ["--span", str(span)]
    argv += extra or []
    return _run(argv, hd, timeout, {"target": target, "metric": metric})


def run_cli(runs: int = 10, warmup: int = 2, timeout: float = 900) -> dict[str, Any]:
    """Peers' inspection commands (shared cli_coldstart.py), main peer venv + celery venv;
    the two JSON results merged into one `commands` map."""
    ensure_venvs()
    hd = harness_dir()
    script = os.path.join(hd, "cli_coldstart.py")
    main = _run(
        [python_for("huey"), script, "--runs", str(runs), "--warmup", str(warmup)],
        hd,
        timeout,
        {"metric": "cli", "target": "peers"},
    )
    cel = _run(
        [python_for("celery-eta"), script, "--runs", str(runs), "--warmup", str(warmup), "--only", "celery-report"],
        hd,
        timeout,
        {"metric": "cli", "target": "celery"},
    )
    commands = dict(main.get("commands") or {})
    for name, row in (cel.get("commands") or {}).items():
        if name == "celery-report":
            commands[name] = row
    return {
        "metric": "cli",
        "target": "peers",
        "tool": main.get("tool"),
        "commands": commands,
        "errors": [x["error"] for x in (main, cel) if x.get("error")],
    }


def _run(argv: list[str], cwd: str, timeout: float, ident: dict[str, Any]) -> dict[str, Any]:
    log("peer: " + " ".join(argv))
    t0 = time.time()
    p = subprocess.Popen(
        argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the harness then stops its redis-server and workers by PID itself
        p.terminate()
        try:
            p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
        return {**ident, "error": f"timeout after {timeout:g}s"}
    except BaseException:
        p.terminate()
        p.communicate(timeout=60)
        raise
    res = last_json(out)
    if res is None:
        tail = (err or "").strip().splitlines()[-5:]
        return {**ident, "error": f"no JSON line (rc={p.returncode}): {' | '.join(tail)}"}
    res["wall_s"] = round(time.time() - t0, 1)
    res["command"] = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv))
    return res


def run_many(
    metric: str,
    targets: list[str],
    *,
    n: int | None = None,
    span: float | None = None,
    repeat: int = 1,
    extra: list[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeat):
        for t in targets:
            out.setdefault(t, []).append(run_peer(metric, t, n=n, span=span, extra=extra))
    return out


def parse_targets(text: str | None, metric: str) -> list[str]:
    if not text:
        return list(DEFAULT_TARGETS.get(metric, []))
    if text == "all":
        return list(ALL_TARGETS)
    return [t.strip() for t in text.split(",") if t.strip()]


def versions() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for venv in (PEER_VENV, CELERY_VENV):
        py = os.path.join(venv, "bin", "python")
        if not os.path.exists(py):
            continue
        p = subprocess.run([py, "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
        try:
            for row in json.loads(p.stdout):
                if row["name"].lower() in (
                    "rq",
                    "rq-scheduler",
                    "arq",
                    "huey",
                    "apscheduler",
                    "celery",
                    "kombu",
                    "redis",
                    "hiredis",
                    "celery-redbeat",
                ):
                    out.setdefault(os.path.basename(venv), {})[row["name"]] = row["version"]
        except ValueError:
            pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup", help="create the peer venvs")
    s.add_argument("--force", action="store_true")
    sub.add_parser("status", help="show harness dir, venvs and versions")
    r = sub.add_parser("run", help="run one metric for some peers")
    r.add_argument("metric", choices=["throughput", "lateness", "enqueue", "cli"])
    r.add_argument(
        "--targets",
        default=None,
        help=f"comma-separated peer targets, or 'all' (default per metric: {DEFAULT_TARGETS})",
    )
    r.add_argument("-n", type=int, default=None)
    r.add_argument("--span", type=float, default=None)
    r.add_argument("--repeat", type=int, default=1)
    r.add_argument("--runs", type=int, default=10, help="cli: hyperfine runs")
    r.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.cmd == "setup":
        setup(args.force)
        print(json.dumps({"venvs": versions()}))
        return 0
    if args.cmd == "status":
        info = {"harness": harness_dir(), "cache": CACHE_DIR, "ready": venvs_ready(), "versions": versions()}
        print(json.dumps(info, indent=1))
        print(json.dumps(info))
        return 0
    if args.metric == "cli":
        res = run_cli(runs=args.runs)
        print_table(
            ["command", "median ms", "min ms", "stddev ms"],
            [(k, v.get("median_ms"), v.get("min_ms"), v.get("stddev_ms")) for k, v in res["commands"].items()],
        )
        emit(res, args.out)
        return 0
    targets = parse_targets(args.targets, args.metric)
    results = run_many(args.metric, targets, n=args.n, span=args.span, repeat=args.repeat)
    rows = []
    for t, runs in results.items():
        for res in runs:
            if args.metric == "throughput":
                rows.append(
                    (
                        t,
                        res.get("n"),
                        res.get("throughput_jobs_per_s"),
                        res.get("last_start_after_due_s"),
                        res.get("error"),
                    )
                )
            elif args.metric == "lateness":
                lat = res.get("lateness_ms") or {}
                rows.append((t, res.get("n"), lat.get("p50"), lat.get("p99"), res.get("error")))
            else:
                rows.append(
                    (t, res.get("n"), res.get("mem_bytes_per_job"), res.get("enqueue_us_per_job"), res.get("error"))
                )
    heads = {
        "throughput": ["peer", "n", "jobs/s", "last start s", "error"],
        "lateness": ["peer", "n", "p50 ms", "p99 ms", "error"],
        "enqueue": ["peer", "n", "bytes/job", "µs/job", "error"],
    }[args.metric]
    print_table(heads, rows)
    emit({"metric": args.metric, "target": "peers", "peers": results, "versions": versions()}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
