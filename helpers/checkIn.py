"""Example helper: a check-in every 5 minutes. It logs one line and appends to a small file
under the system temp dir so you can watch it work from another terminal."""

import logging
import os
import tempfile
from datetime import UTC, datetime

from queuectl import BaseHelper, ExecutionContext

log = logging.getLogger("helpers.checkIn")


class CheckIn(BaseHelper):
    name = "checkIn"

    def get_schedule_config(self) -> dict:
        return {"type": "interval", "interval_minutes": 5, "priority": 3}

    def run(self, ctx: ExecutionContext) -> None:
        path = os.path.join(tempfile.gettempdir(), "queuectl-checkin.log")
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{datetime.now(UTC).isoformat()} {ctx.execution_id}\n")
        log.info("checkIn: still here (attempt %d), noted in %s", ctx.attempt, path)
