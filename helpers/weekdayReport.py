"""Example helper: a weekday-morning report on a cron schedule, written as an async helper."""

import asyncio
import logging

from queuectl import BaseHelper

log = logging.getLogger("helpers.weekdayReport")


class WeekdayReport(BaseHelper):
    name = "weekdayReport"

    def get_schedule_config(self) -> dict:
        return {"type": "cron", "cron": "0 9 * * 1-5", "priority": 2, "expiry": 3600}

    async def run(self) -> None:
        await asyncio.sleep(0.1)  # stands in for real I/O
        log.info("weekdayReport: the weekday report is ready")
