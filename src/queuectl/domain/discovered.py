"""What discovery found in a helpers directory: the helper classes with their schedules, and
the files (or classes) it could not accept. Kept apart from models.py: only registration needs
them, and a read command should not pay for defining them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from queuectl.domain.schedule import ScheduleConfig


@dataclass(frozen=True, kw_only=True)
class HelperSpec:
    """One helper class found in a file, with what it says about its schedule."""

    name: str
    class_name: str
    source: str  # absolute path of the file
    config: dict[str, Any] | None  # what get_schedule_config() returned (a plain copy), or None
    config_error: str | None  # one-line reason when get_schedule_config() failed
    schedule: ScheduleConfig | None = None  # `config` read into the schedule model, when valid
    schedule_error: str | None = None  # one-line reason when `config` is not a valid schedule
    # where `config` came from: "config" (get_schedule_config()) or "legacy" (the bridge's
    # translation of a schedule() written for the schedule library; legacy_call says which call)
    schedule_source: str = "config"
    legacy_call: str | None = None
    legacy_ignored: bool = False  # it has both methods: get_schedule_config() won

    @property
    def bridge_note(self) -> str | None:
        """What the legacy bridge did for this helper, as one log line (None: nothing)."""
        if self.schedule_source == "legacy":
            import json

            return (
                f"helper {self.name}: legacy schedule() {self.legacy_call} became"
                f" {json.dumps(self.config, separators=(', ', ': '))}"
            )
        if self.legacy_ignored:
            return f"helper {self.name} has both get_schedule_config() and schedule(): get_schedule_config() wins"
        return None

    @property
    def problem(self) -> str | None:
        """Why this helper has no schedule of its own (None when it has one)."""
        if self.config_error is not None:
            return f"get_schedule_config() failed: {self.config_error}"
        return self.schedule_error


@dataclass(frozen=True, kw_only=True)
class LoadError:
    """A file (or one class in it) that could not be accepted; the others still load."""

    source: str  # file path (absolute)
    reason: str  # one line


@dataclass(frozen=True, kw_only=True)
class DiscoveryResult:
    """Everything discovery found: helpers sorted by name, errors sorted by source."""

    helpers: list[HelperSpec]
    errors: list[LoadError]
