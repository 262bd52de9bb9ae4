"""Soak test (reliability.md F03): seeded dispatcher faults for N minutes, then the invariants.

    .venv/bin/python bench/soak.py --minutes 2 --dispatchers 3 --seed 1

Starts its own redis-server (free loopback port), ~20 helpers (intervals 1-3 s, some slow, a few
failing), N dispatchers with a 2 s lease; every 2-10 s (seeded) it SIGKILLs, SIGSTOPs (0.5-3x
lease, then SIGCONT) or SIGTERMs one dispatcher and restarts it. At the end it lets the system
settle, stops the dispatchers, runs the invariant checker of tests/faults/invariants.py, prints a
summary and, last, one JSON line. Exit code 0 when no invariant is violated. Not a test, not in CI.
It stops by itself: a hard deadline kills everything it started (by pid).

A freeze longer than ~2/3 lease costs the frozen dispatcher its running executions: its workers
kill their helpers (worker watchdog), it logs `lease of X could not be renewed in time` when
thawed, and a peer records them `abandoned`. Such lines from a dispatcher that was never frozen
are counted as `lease_stops_unexplained` (Redis is never faulted here, so there should be none).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "faults"))
sys.path.insert(0, str(ROOT / "tests"))

from harness import Dispatcher, RedisServer, kill_stray, write_helpers  # noqa: E402
from invariants import check_invariants, read_log  # noqa: E402

LEASE = 2.0
TICK = 0.2
GRACE = 2.0
REAP_SLACK = 2.0


def build_helpers(rng: random.Random, directory: Path, log: Path, count: int = 20) -> list[tuple]:
    specs = []
    for i in range(count):
        interval = rng.choice((1, 1, 2, 2, 3))
        roll = rng.random()
        if roll < 0.55:
            spec = (f"h{i:02d}", {"type": "interval", "interval_seconds": interval}, "ok")
        elif roll < 0.9:  # slow: some longer than their interval (no overlap: later ones expire)
            spec = (
                f"h{i:02d}",
                {"type": "interval", "interval_seconds": interval},
                "sleep",
                round(rng.uniform(0.3, 3.0), 2),
            )
        else:
            spec = (f"h{i:02d}", {"type": "interval", "interval_seconds": interval}, "raise")
        specs.append(spec)
    write_helpers(directory, "soak_helpers.py", log, specs)
    return specs


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.root = Path(tempfile.mkdtemp(prefix="queuectl-soak-"))
        self.helpers_dir = self.root / "helpers"
        self.cwd = self.root / "cwd"
        self.cwd.mkdir()
        self.log_path = self.root / "side-effects.log"
        self.redis = RedisServer()
        import redis

        self.client = redis.Redis(host="127.0.0.1", port=self.redis.port, decode_responses=True, socket_timeout=10)
        self.slots: list[Dispatcher] = []
        self.all: list[Dispatcher] = []
        self.faults: Counter[str] = Counter()
        self.kills: list[tuple[str, float]] = []  # (dispatcher id, time of SIGKILL)
        self.freezes: list[tuple[str, float, float]] = []  # (dispatcher id, from, to)
        self.terms: list[tuple[str, float]] = []
        self.events: list[str] = []

    # -- dispatchers ---------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "REDIS_URL": self.redis.url,
                "QUEUECTL_HELPERS_DIR": str(self.helpers_dir),
                "QUEUECTL_TIMEZONE": "UTC",
                "NO_COLOR": "1",
                "PYTHONUNBUFFERED": "1",
                "QUEUECTL_HOME": str(self.root / "qhome"),
            }
        )
        return env

    def spawn(self) -> Dispatcher:
        n = len(self.all)
        d = Dispatcher(
            [
                "--lease",
                str(LEASE),
                "--tick",
                str(TICK),
                "--concurrency",
                "4",
                "--window",
                "30",
                "--expand-every",
                "5",
                "--grace",
                str(GRACE),
            ],
            self.env(),
            self.cwd,
            self.root / f"dispatcher{n}.log",
        )
        self.all.append(d)
        d.wait_ready(30)
        return d

    def did(self, d: Dispatcher) -> str:
        return d.dispatcher_id or f"pid{d.pid}"

    # -- faults ----------------------------------------------------------------------------------
    def inject(self) -> None:
        i = self.rng.randrange(len(self.slots))
        d = self.slots[i]
        kind = self.rng.choice(("kill", "stop", "term"))
        self.faults[kind] += 1
        t = time.time()
        if kind == "kill":
            d.kill9()
            self.kills.append((self.did(d), t))
            self.events.append(f"{t:.1f} kill -9 {self.did(d)}")
            self.slots[i] = self.spawn()
        elif kind == "stop":
            pause = self.rng.uniform(0.5, 3.0) * LEASE
            d.stop()
            time.sleep(pause)
            d.cont()
            self.freezes.append((self.did(d), t, t + pause))
            self.events.append(f"{t:.1f} SIGSTOP {self.did(d)} for {pause:.1f}s")
        else:
            d.term()
            try:
                code = d.wait(GRACE + 5)
            except Exception:  # noqa: BLE001
                code = None
                d.close()
            self.terms.append((self.did(d), t))
            self.events.append(f"{t:.1f} SIGTERM {self.did(d)} -> exit {code} after {time.time() - t:.1f}s")
            if code != 0:
                self.faults["term_bad_exit"] += 1
            self.slots[i] = self.spawn()

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> int:
        started = time.time()
        specs = build_helpers(self.rng, self.helpers_dir, self.log_path)
        self.slots = [self.spawn() for _ in range(self.args.dispatchers)]
        end = started + self.args.minutes * 60
        while time.time() < end:
            wait = self.rng.uniform(2, 10)
            time.sleep(max(0.0, min(wait, end - time.time())))
            if time.time() >= end:
                break
            self.inject()
        # drain: no more faults; let leases lapse and peers reap, then stop everyone gracefully
        time.sleep(LEASE + REAP_SLACK + 1)
        judged_at = time.time()
        for d in self.slots:
            d.term()
        for d in self.slots:
            try:
                d.wait(GRACE + 10)
            except Exception:  # noqa: BLE001
                d.close()
        figures, violations = check_invariants(self.client, self.log_path, judged_at, LEASE, REAP_SLACK)
        return self.report(started, specs, figures, violations)

    def report(self, started: float, specs: list[tuple], figures: dict, violations: list[str]) -> int:
        snap_rows = {}
        for key in self.client.scan_iter("execution:*", count=1000):
            if "#" not in key and self.client.type(key) == "hash":
                snap_rows[key[len("execution:") :]] = self.client.hgetall(key)
        abandoned = {eid: r for eid, r in snap_rows.items() if r.get("reason") == "abandoned"}
        # how long after a kill -9 its executions were finalised as abandoned
        kill_delays = []
        killed = dict(self.kills)
        for r in abandoned.values():
            owner = r.get("dispatcher")
            # running when its owner was killed (not already abandoned during an earlier freeze)
            if owner in killed and float(r["finishedAt"]) >= killed[owner] - 0.01:
                kill_delays.append(float(r["finishedAt"]) - killed[owner])
        frozen = {d for d, _, _ in self.freezes}
        unexplained = [
            eid
            for eid, r in abandoned.items()
            if r.get("dispatcher") not in killed and r.get("dispatcher") not in frozen
        ]
        starts = Counter(e.execution_id for e in read_log(self.log_path) if e.kind == "start")
        lease_stops = {self.did(d): d.text.count("could not be renewed in time") for d in self.all}
        lease_stops_unexplained = sum(n for did, n in lease_stops.items() if did not in frozen)
        crashed = sum(1 for d in self.all if d.popen.poll() not in (None, 0, -9))
        tracebacks = sum(d.text.count("Traceback") for d in self.all)
        summary = {
            "seed": self.args.seed,
            "minutes": self.args.minutes,
            "dispatchers": self.args.dispatchers,
            "helpers": len(specs),
            "faults_injected": sum(v for k, v in self.faults.items() if k in ("kill", "stop", "term")),
            "faults": dict(self.faults),
            "executions": figures["executions"],
            "started": len(starts),
            "status": figures["status"],
            "duplicates": figures["duplicates"] + figures["overlaps"],
            "stuck": figures["stuck"],
            "accounted_pct": figures["accounted_pct"],
            "abandoned": len(abandoned),
            "abandoned_unexplained": len(unexplained),
            "lease_stops": sum(lease_stops.values()),
            "lease_stops_unexplained": lease_stops_unexplained,
            "max_abandon_delay_after_kill_s": round(max(kill_delays), 2) if kill_delays else None,
            "violations": len(violations),
            "dispatcher_tracebacks": tracebacks,
            "dispatcher_bad_exits": crashed,
            "wall_s": round(time.time() - started, 1),
        }
        print("queuectl soak")
        print(
            f"  seed {self.args.seed}, {self.args.minutes} min, {self.args.dispatchers} dispatchers, "
            f"{len(specs)} helpers, lease {LEASE:g}s, tick {TICK:g}s; data in {self.root}"
        )
        print(f"  faults: {dict(self.faults)}")
        for line in self.events:
            print(f"    {line}")
        print(
            f"  executions {figures['executions']} ({figures['status']}), {len(starts)} started, "
            f"{figures['old_enough']} old enough to judge, accounted {figures['accounted_pct']}%"
        )
        print(
            f"  duplicates {summary['duplicates']}, stuck {figures['stuck']}, orphans {figures['orphans']}, "
            f"abandoned {len(abandoned)} ({len(unexplained)} not explained by a kill or a freeze)"
        )
        print(
            f"  helpers stopped because a lease could not be renewed: {sum(lease_stops.values())} "
            f"({lease_stops_unexplained} by a dispatcher that was never frozen)"
        )
        if kill_delays:
            print(
                f"  abandoned finalised {min(kill_delays):.2f}-{max(kill_delays):.2f}s after the kill -9 "
                f"(bound: lease {LEASE:g}s + reap)"
            )
        print(f"  invariant violations: {len(violations)}")
        for v in violations[:30]:
            print(f"    {v}")
        if unexplained:
            print(f"  unexplained abandoned: {unexplained[:10]}")
        print(json.dumps(summary, sort_keys=True))
        return 0 if not violations and not tracebacks else 1

    def close(self) -> None:
        for d in self.all:
            d.close()
        kill_stray(e.pid for e in read_log(self.log_path) if e.pid)
        self.redis.close()
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--dispatchers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data directory (logs)")
    args = parser.parse_args()
    soak = Soak(args)
    # a hard stop, whatever happens: everything started is killed by pid
    deadline = args.minutes * 60 + 120

    def on_alarm(*_: object) -> None:
        raise TimeoutError(f"soak did not finish within {deadline:.0f}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(deadline))
    try:
        return soak.run()
    finally:
        signal.alarm(0)
        soak.close()


if __name__ == "__main__":
    sys.exit(main())
