"""The legacy bridge: what each `schedule` library construct becomes, what is refused (by
name, one line, the file's other helpers unaffected), and how the reading leaves the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schedule

from queuectl.domain.schedule import parse_schedule
from queuectl.domain.schedule.legacy import LegacyJob, Translation, legacy_call, translate
from queuectl.runtime.discovery import discover, discover_in_process

# ---------------------------------------------------------------------------------------------
# The pure translation


@pytest.mark.parametrize(
    ("job", "config"),
    [
        (LegacyJob(interval=1, unit="days", at=(8, 40, 0)), {"type": "daily", "time": "08:40:00"}),
        (
            LegacyJob(interval=1, unit="days", at=(8, 0, 0), zone="Europe/Berlin"),
            {"type": "daily", "time": "08:00:00", "timezone": "Europe/Berlin"},
        ),
        (LegacyJob(interval=3, unit="days", at=(6, 0, 5)), {"type": "daily", "time": "06:00:05", "every_days": 3}),
        (LegacyJob(interval=1, unit="days"), {"type": "daily", "time": "00:00:00"}),
        (LegacyJob(interval=1, unit="weeks", start_day="sunday"), {"type": "cron", "cron": "0 0 * * 0"}),
        (
            LegacyJob(interval=1, unit="weeks", start_day="friday", at=(17, 5, 9), zone="America/New_York"),
            {"type": "cron", "cron": "5 17 * * 5 9", "timezone": "America/New_York"},
        ),
        (LegacyJob(interval=45, unit="seconds"), {"type": "interval", "interval_seconds": 45}),
        (LegacyJob(interval=120, unit="seconds"), {"type": "interval", "interval_minutes": 2}),
        (LegacyJob(interval=10, unit="minutes"), {"type": "interval", "interval_minutes": 10}),
        (LegacyJob(interval=2, unit="hours"), {"type": "interval", "interval_minutes": 120}),
        (LegacyJob(interval=2, unit="weeks"), {"type": "interval", "interval_minutes": 20160}),
        (LegacyJob(interval=1, unit="hours", at=(0, 20, 0)), {"type": "cron", "cron": "20 * * * *"}),
        (LegacyJob(interval=1, unit="hours", at=(0, 5, 30)), {"type": "cron", "cron": "5 * * * * 30"}),
        (LegacyJob(interval=1, unit="minutes", at=(0, 0, 17)), {"type": "cron", "cron": "* * * * * 17"}),
    ],
    ids=lambda v: legacy_call(v) if isinstance(v, LegacyJob) else "",
)
def test_translation(job: LegacyJob, config: dict[str, Any]) -> None:
    result = translate(job)
    assert isinstance(result, Translation), result
    assert result.config == config
    parse_schedule(result.config, default_timezone="UTC")  # always a valid schedule


@pytest.mark.parametrize(
    ("job", "construct"),
    [
        (LegacyJob(interval=5, unit="minutes", latest=10), ".to()"),
        (LegacyJob(interval=1, unit="days", at=(8, 0, 0), until=True), ".until()"),
        (LegacyJob(interval=1, unit="hours", target="print", calls_own_run=False), "print"),
        (LegacyJob(interval=1, unit="hours", has_arguments=True), "arguments"),
        (LegacyJob(interval=2, unit="hours", at=(0, 15, 0)), ".at() on every 2 hours"),
        (LegacyJob(interval=3, unit="minutes", at=(0, 0, 15)), ".at() on every 3 minutes"),
        (LegacyJob(interval=53, unit="weeks"), "every 53 weeks"),
        (LegacyJob(interval=367, unit="days"), "every 367 days"),
        (LegacyJob(interval=0, unit="seconds"), "every(0)"),
        (LegacyJob(interval=1.5, unit="minutes"), "every(1.5)"),
        (LegacyJob(interval=1, unit="days", at=(8, 0, 0), zone="EST5EDT/Nowhere"), "EST5EDT/Nowhere"),
    ],
)
def test_refusals_name_the_construct_in_one_line(job: LegacyJob, construct: str) -> None:
    reason = translate(job)
    assert isinstance(reason, str)
    assert reason.startswith("legacy schedule(): ") and construct in reason and "\n" not in reason


def test_the_legacy_call_is_spelled_as_the_library_spells_it() -> None:
    assert legacy_call(LegacyJob(interval=2, unit="days", at=(10, 0, 0), zone="Europe/Berlin")) == (
        'every(2).days.at("10:00:00", "Europe/Berlin").do(run)'
    )
    assert legacy_call(LegacyJob(interval=1, unit="hours", at=(0, 20, 0))) == 'every().hour.at(":20").do(run)'
    assert legacy_call(LegacyJob(interval=1, unit="minutes", at=(0, 0, 7))) == 'every().minute.at(":07").do(run)'
    assert legacy_call(LegacyJob(interval=1, unit="weeks", start_day="monday")) == "every().monday.do(run)"
    assert legacy_call(LegacyJob(interval=5, unit="minutes", latest=9)) == "every(5).to(9).minutes.do(run)"


# ---------------------------------------------------------------------------------------------
# Reading real helper files


def helper(name: str, body: str, *, extra: str = "") -> str:
    """A helper class whose schedule() is `body` (one or more lines at method indentation)."""
    lines = "\n".join("        " + line for line in body.splitlines())
    return (
        f"class H{name.capitalize()}(BaseHelper):\n"
        f"    name = {name!r}\n"
        f"    def schedule(self):\n{lines}\n"
        f"    def run(self):\n        pass\n{extra}\n"
    )


HEADER = "import schedule\nfrom queuectl import BaseHelper\n\n\ndef other():\n    pass\n\n\n"


def write(directory: Path, filename: str, *classes: str, header: str = HEADER) -> Path:
    path = directory / filename
    path.write_text(header + "\n\n".join(classes), encoding="utf-8")
    return path


REFUSED = {
    "rand": ("schedule.every(5).to(10).minutes.do(self.run)", ".to()"),
    "until": ('schedule.every().hour.until("2099-01-01").do(self.run)', ".until()"),
    "other": ("schedule.every().hour.do(other)", "calls other"),
    "args": ('schedule.every().hour.do(self.run, "x")', "arguments"),
    "two": ('schedule.every().hour.do(self.run)\nschedule.every().day.at("08:00").do(self.run)', "2 jobs"),
    "raises": ('raise RuntimeError("no schedule today")', "RuntimeError: no schedule today"),
    "missing": ("import no_such_module_for_queuectl", "No module named 'no_such_module_for_queuectl'"),
    "none": ("pass", "no job"),
    "loop": ("schedule.every().hour.do(self.run)\nschedule.run_pending()", "run_pending"),
    "everyhours": ('schedule.every(2).hours.at(":15").do(self.run)', ".at() on every 2 hours"),
}


def test_refused_legacy_helpers_are_load_errors_and_the_others_load(tmp_path: Path) -> None:
    classes = [helper(name, body) for name, (body, _) in REFUSED.items()]
    good = helper("good", 'schedule.every().day.at("08:40:00").do(self.run)')
    write(tmp_path, "legacy.py", *classes, good)
    found = discover_in_process(tmp_path, default_timezone="UTC")
    assert [h.name for h in found.helpers] == ["good"]
    assert found.helpers[0].schedule is not None and found.helpers[0].schedule_source == "legacy"
    reasons = {e.reason.split(":")[0]: e.reason for e in found.errors}
    assert set(reasons) == {f"helper {name}" for name in REFUSED}
    for name, (_, construct) in REFUSED.items():
        reason = reasons[f"helper {name}"]
        assert construct in reason and "\n" not in reason, reason
    assert {e.source for e in found.errors} == {str(tmp_path / "legacy.py")}


def test_reading_leaves_the_library_as_it_was(tmp_path: Path) -> None:
    before = schedule.default_scheduler
    jobs_before = list(before.jobs)
    write(tmp_path, "a.py", helper("a", 'schedule.every().day.at("08:00").do(self.run)'), helper("b", "1 / 0"))
    discover_in_process(tmp_path, default_timezone="UTC")
    assert schedule.default_scheduler is before and schedule.jobs is before.jobs
    assert before.jobs == jobs_before  # nothing left on the real default scheduler


def test_both_methods_get_schedule_config_wins_without_calling_schedule(tmp_path: Path) -> None:
    both = helper("both", 'raise RuntimeError("schedule() must not be called")', extra="")
    both = both.replace(
        "    def run(self):",
        '    def get_schedule_config(self):\n        return {"type": "interval", "interval_seconds": 60}\n'
        "    def run(self):",
    )
    write(tmp_path, "both.py", both)
    found = discover_in_process(tmp_path, default_timezone="UTC")
    assert not found.errors
    (spec,) = found.helpers
    assert spec.schedule_source == "config" and spec.legacy_ignored and spec.schedule is not None
    assert spec.schedule.interval_seconds == 60
    assert spec.bridge_note is not None and "get_schedule_config() wins" in spec.bridge_note


def test_an_inherited_run_counts_as_the_helpers_own(tmp_path: Path) -> None:
    base = (
        "class Base(BaseHelper):\n    abstract = True\n    def run(self):\n        pass\n\n\n"
        "class Child(Base):\n    name = 'child'\n    def schedule(self):\n"
        "        schedule.every(10).minutes.do(self.run)\n"
    )
    write(tmp_path, "child.py", base)
    (spec,) = discover_in_process(tmp_path, default_timezone="UTC").helpers
    assert spec.config == {"type": "interval", "interval_minutes": 10}


def test_another_instances_run_is_not_the_helpers_own(tmp_path: Path) -> None:
    body = "schedule.every().hour.do(type(self)().run)"
    write(tmp_path, "stranger.py", helper("stranger", body))
    found = discover_in_process(tmp_path, default_timezone="UTC")
    assert not found.helpers and "not the helper's own run()" in found.errors[0].reason


def test_the_child_process_report_carries_the_bridge(tmp_path: Path) -> None:
    write(tmp_path, "digest.py", helper("digest", 'schedule.every().monday.at("06:15", "Europe/Berlin").do(self.run)'))
    (spec,) = discover(tmp_path, default_timezone="UTC").helpers
    assert spec.schedule_source == "legacy"
    assert spec.legacy_call == 'every().monday.at("06:15:00", "Europe/Berlin").do(run)'
    assert spec.schedule is not None and spec.schedule.to_dict()["cron"] == "15 6 * * 1"
    assert spec.schedule.timezone == "Europe/Berlin"


def test_a_hanging_schedule_is_a_broken_file_and_the_other_files_load(tmp_path: Path) -> None:
    write(tmp_path, "hangs.py", helper("hangs", "import time\nwhile True:\n    time.sleep(1)"))
    write(tmp_path, "fine.py", helper("fine", "schedule.every(30).seconds.do(self.run)"))
    found = discover(tmp_path, default_timezone="UTC", timeout=3)
    assert [h.name for h in found.helpers] == ["fine"]
    (error,) = found.errors
    assert error.source.endswith("hangs.py") and "timed out" in error.reason


def test_a_missing_module_at_import_is_a_broken_file(tmp_path: Path) -> None:
    header = "import schedule\nimport no_such_module_for_queuectl\nfrom queuectl import BaseHelper\n\n\n"
    write(tmp_path, "gone.py", helper("gone", "schedule.every().hour.do(self.run)"), header=header)
    found = discover_in_process(tmp_path, default_timezone="UTC")
    assert not found.helpers and "no_such_module_for_queuectl" in found.errors[0].reason
