"""The legacy bridge as the CLI shows it: `helpers sync` names the translation, `helpers list`
and `helpers show` (and --json) say where a schedule came from, and `helpers update
--every-days` changes the rhythm of a daily schedule."""

from __future__ import annotations

LEGACY = """
import schedule
from queuectl import BaseHelper


class Digest(BaseHelper):
    name = "digest"

    def schedule(self):
        schedule.every(2).days.at("08:40", "Europe/Berlin").do(self.run)

    def run(self):
        pass
"""

REFUSED = """
import schedule
from queuectl import BaseHelper


class Jitter(BaseHelper):
    def schedule(self):
        schedule.every(5).to(10).minutes.do(self.run)

    def run(self):
        pass
"""


def test_sync_list_show_name_the_legacy_schedule(cli, write_file, make_helper, client) -> None:
    write_file("digest.py", LEGACY)
    write_file("jitter.py", REFUSED)
    make_helper("pulse", {"type": "interval", "interval_seconds": 600})
    synced = cli("helpers", "sync", check=0)
    assert '[BRIDGE] helper digest: legacy schedule() every(2).days.at("08:40:00", "Europe/Berlin")' in synced.stderr
    assert "jitter.py" in synced.stderr and ".to()" in synced.stderr and "Traceback" not in synced.stderr
    assert client.hkeys("internalAvailableHelpers") and not client.hexists("internalAvailableHelpers", "jitter")

    rows = {r["name"]: r for r in cli.json("helpers", "list", "--json")}
    assert set(rows) == {"digest", "pulse"}
    digest = rows["digest"]
    assert digest["schedule_source"] == "legacy" and rows["pulse"]["schedule_source"] == "config"
    assert digest["schedule"]["every_days"] == 2 and digest["schedule"]["timezone"] == "Europe/Berlin"
    assert digest["source"].endswith("digest.py") and rows["pulse"]["legacy_call"] is None

    shown = cli.json("helpers", "show", "digest", "--json")
    assert shown["schedule_source"] == "legacy"
    assert shown["legacy_call"] == 'every(2).days.at("08:40:00", "Europe/Berlin").do(run)'
    table = cli("helpers", "list", check=0).stdout
    assert "every 2 days at 08:40:00 Europe/Berlin (legacy)" in table
    assert "legacy schedule() every(2).days" in cli("helpers", "show", "digest", check=0).stdout


def test_update_every_days(cli, make_helper, register) -> None:
    make_helper("morning", {"type": "daily", "time": "08:30"})
    register()
    cli("helpers", "update", "morning", "--every-days", "3", check=0)
    assert cli.json("helpers", "show", "morning", "--json")["schedule"]["every_days"] == 3
    bad = cli("helpers", "update", "morning", "--every-days", "0", check=2)
    assert "every_days" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    cli("helpers", "update", "morning", "--type", "interval", "--interval-seconds", "60", check=0)
    assert "every_days" not in cli.json("helpers", "show", "morning", "--json")["schedule"]
