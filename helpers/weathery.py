"""Example helper: a daily weather note. Harmless and visible: it logs one line."""

import logging

from queuectl import BaseHelper, ExecutionContext

log = logging.getLogger("helpers.weathery")


class Weathery(BaseHelper):
    name = "weathery"

    def get_schedule_config(self) -> dict:
        return {"type": "daily", "time": "08:30:00", "priority": 1, "expiry": 1800, "enabled": True}

    def run(self, ctx: ExecutionContext) -> None:
        log.info(
            "weathery: good morning! (execution %s, scheduled for %s)", ctx.execution_id, ctx.execution_time.isoformat()
        )
