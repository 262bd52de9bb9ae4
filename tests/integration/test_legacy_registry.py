"""The legacy bridge through a real dispatcher registry and a real Redis: the [BRIDGE] lines
(once per translation per process), the catalog entry of a legacy helper, and nothing in Redis
for one the bridge refuses."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from queuectl.domain import keys
from queuectl.infra.app import open_app
from queuectl.infra.config import Settings
from queuectl.runtime.registry import HelperRegistry
from queuectl.store import catalog

#: due inside the first planning window (the test clock is 10:00 UTC)
LEGACY = """
import schedule
from queuectl import BaseHelper


class Digest(BaseHelper):
    name = "digest"

    def schedule(self):
        schedule.every().day.at("10:40:00").do(self.run)

    def run(self):
        pass
"""

BOTH = """
import schedule
from queuectl import BaseHelper


class Both(BaseHelper):
    name = "both"

    def schedule(self):
        schedule.every().hour.do(self.run)

    def get_schedule_config(self):
        return {"type": "interval", "interval_minutes": 30}

    def run(self):
        pass
"""

RANDOM = """
import schedule
from queuectl import BaseHelper


class Jitter(BaseHelper):
    name = "jitter"

    def schedule(self):
        schedule.every(5).to(10).minutes.do(self.run)

    def run(self):
        pass
"""


@pytest.fixture()
def registry(client, redis_url: str, clock, tmp_path: Path) -> HelperRegistry:
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    settings = Settings.with_defaults(redis_url=redis_url, helpers_dir=helpers, timezone="UTC")
    return HelperRegistry(open_app(settings, clock=clock), preload=lambda files: None)


def write(registry: HelperRegistry, filename: str, text: str) -> None:
    path = Path(registry.helpers_dir) / filename
    path.write_text(text, encoding="utf-8")
    stat = path.stat()  # a new mtime every write, so the registry sees the change
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def bridge_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("[BRIDGE]")]


def test_bridge_lines_are_logged_once_per_translation(registry, client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="queuectl")
    write(registry, "digest.py", LEGACY)
    write(registry, "both.py", BOTH)
    registry.rescan(force=True)
    lines = bridge_lines(caplog)
    assert len(lines) == 2
    (legacy,) = [line for line in lines if "digest" in line]
    assert 'every().day.at("10:40:00")' in legacy and '"type": "daily"' in legacy and '"time": "10:40:00"' in legacy
    (both,) = [line for line in lines if "both" in line]
    assert "get_schedule_config() wins" in both

    write(registry, "other.py", LEGACY.replace('"digest"', '"other"'))  # the directory changed
    registry.rescan(force=True)
    registry.rescan(force=True)
    lines = bridge_lines(caplog)
    assert len(lines) == 3 and sum("helper other:" in line for line in lines) == 1  # only the new one

    entry = json.loads(client.hget(keys.AVAILABLE_HELPERS, "digest"))
    assert entry["schedule_source"] == "legacy" and entry["legacy_call"] == 'every().day.at("10:40:00").do(run)'
    assert entry["source"].endswith("digest.py")
    assert "schedule_source" not in json.loads(client.hget(keys.AVAILABLE_HELPERS, "both"))  # config: implied
    record = catalog.read_one(client, "digest")
    assert record.schedule is not None and record.schedule.time == "10:40:00" and record.plannable
    assert client.zcard(keys.EXECUTION_QUEUE) > 0


def test_a_refused_legacy_helper_writes_nothing_and_the_others_run(registry, client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="queuectl")
    write(registry, "jitter.py", RANDOM)
    write(registry, "digest.py", LEGACY)
    found = registry.rescan(force=True)
    assert found is not None and [h.name for h in found.helpers] == ["digest"]
    assert sorted(client.hkeys(keys.AVAILABLE_HELPERS)) == ["digest"]
    queued = client.zrange(keys.EXECUTION_QUEUE, 0, -1)
    assert queued and all(m.startswith("digest:") for m in queued)
    assert not client.keys("*jitter*")
    errors = [r.getMessage() for r in caplog.records if "cannot load jitter.py" in r.getMessage()]
    assert len(errors) == 1 and ".to()" in errors[0]


def test_a_registered_helper_whose_schedule_becomes_refused_is_broken(registry, client) -> None:
    write(registry, "digest.py", LEGACY)
    registry.rescan(force=True)
    assert client.zcard(keys.EXECUTION_QUEUE) > 0
    write(registry, "digest.py", LEGACY.replace('every().day.at("10:40:00")', 'every().hour.until("2099-01-01")'))
    registry.rescan(force=True)
    record = catalog.read_one(client, "digest")
    assert record.status == "broken" and record.problem is not None and ".until()" in record.problem
    assert client.zcard(keys.EXECUTION_QUEUE) == 0
