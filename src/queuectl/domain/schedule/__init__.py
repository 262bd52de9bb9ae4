"""Schedule maths and validation: what a helper's schedule means, as exact UTC instants.

Pure on purpose: nothing here reads the clock or touches Redis, so every process (and every test)
computes the same instants from the same config, and DST rules are tested in simulated time.
`config` holds the one schedule value and its validation, `cron` the cron expressions,
`occurrences` the instants.
"""

from __future__ import annotations

from queuectl.domain.schedule.config import SCHEDULE_TYPES, ScheduleConfig, parse_schedule
from queuectl.domain.schedule.occurrences import next_occurrence, occurrences

__all__ = ["SCHEDULE_TYPES", "ScheduleConfig", "next_occurrence", "occurrences", "parse_schedule"]
