"""Example legacy helper: written for the `schedule` library, run by queuectl through the legacy
bridge (docs/migration.md). queuectl reads its schedule() once, in discovery, as the daily
config {"type": "daily", "time": "08:40:00"}; it never runs the library's loop."""

import logging

import schedule

from queuectl import BaseHelper

log = logging.getLogger("helpers.legacyDigest")


class LegacyDigest(BaseHelper):
    name = "legacyDigest"

    def schedule(self) -> None:
        schedule.every().day.at("08:40:00").do(self.run)

    def run(self) -> None:
        log.info("legacyDigest: the morning digest is out")
