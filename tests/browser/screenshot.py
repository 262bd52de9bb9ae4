"""Take docs/dashboard.png: the dashboard in a realistic state, in headless chromium at 1280x900.

A throwaway Redis, a few helpers (one failing, one disabled, one changed by an operator),
`queuectl run` for a while so that history holds successes and errors, then `queuectl serve` and
the screenshot. From the repository root, with the venv active:

    python tests/browser/screenshot.py [--out docs/dashboard.png] [--seconds 45]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from browser_stack import Stack, start_chromium  # noqa: E402

from redis_server import RedisServer  # noqa: E402


def helpers(now: float) -> dict[str, tuple[dict[str, object], str]]:
    """name: (schedule, run() body)."""
    at = datetime.fromtimestamp(now + 50 * 60, tz=UTC).strftime("%H:%M:00")
    return {
        "checkIn": ({"type": "interval", "interval_minutes": 5, "priority": 2, "expiry": 120}, "return None"),
        "heartbeatPing": ({"type": "interval", "interval_seconds": 15, "priority": 1, "expiry": 10}, "return None"),
        "syncInventory": (
            {"type": "interval", "interval_minutes": 10, "priority": 3, "expiry": 300},
            "__import__('time').sleep(0.4)",
        ),
        "exportLedger": (
            {"type": "interval", "interval_seconds": 20, "priority": 2, "expiry": 60},
            "raise ConnectionError('ledger API answered 502 Bad Gateway after 3 retries')",
        ),
        "weathery": ({"type": "daily", "time": at, "priority": 1, "expiry": 1800, "timezone": "UTC"}, "return None"),
        "weekdayReport": ({"type": "cron", "cron": "*/30 * * * *", "priority": 3, "expiry": 600}, "return None"),
        "legacyCleanup": ({"type": "interval", "interval_minutes": 15, "priority": 5, "expiry": 600}, "return None"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    parser.add_argument("--seconds", type=float, default=45.0, help="How long the dispatcher runs first.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="queuectl-shot-") as tmp, RedisServer(root=tmp) as redis_server:
        stack = Stack(Path(tmp), redis_server.url)
        try:
            for name, (schedule, body) in helpers(time.time()).items():
                stack.helper(name, schedule, body)
            stack.qctl("helpers", "sync")
            stack.qctl("helpers", "disable", "legacyCleanup")
            stack.qctl("helpers", "update", "weekdayReport", "--priority", "2")
            stack.run_dispatcher()
            time.sleep(args.seconds)
            url, _serve = stack.serve()
            driver = start_chromium(1280, 900)
            try:
                driver.get(url + "/")
                deadline = time.monotonic() + 15
                while driver.execute_script("return document.body.dataset.state") != "live":
                    if time.monotonic() > deadline:
                        raise SystemExit("the dashboard never went live")
                    time.sleep(0.1)
                time.sleep(2.5)  # one more poll: the relative times settle
                args.out.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.out))
            finally:
                driver.quit()
        finally:
            stack.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
