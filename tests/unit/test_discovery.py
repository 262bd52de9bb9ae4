"""Discovery must load good helpers and turn every kind of bad helper file into a LoadError,
without the bad file hanging, killing or confusing the caller."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from queuectl.domain.discovered import DiscoveryResult, HelperSpec, LoadError
from queuectl.domain.errors import HelperLoadError
from queuectl.domain.schedule import parse_schedule
from queuectl.helper import BaseHelper, ExecutionContext, call_run
from queuectl.runtime.discovery import discover, discover_in_process
from queuectl.runtime.helper_loader import load_helper_class
from support import write_helper as write

Discover = Callable[[Path], DiscoveryResult]

GOOD = """
from queuectl.helper import BaseHelper

class Weather(BaseHelper):
    def run(self):
        return "sunny"

    def get_schedule_config(self):
        return {"type": "daily", "time": "08:30:00", "priority": 1}
"""


def child(path: Path) -> DiscoveryResult:
    return discover(path, default_timezone="UTC", timeout=20)


@pytest.fixture(params=["in_process", "child"])
def run_discovery(request: pytest.FixtureRequest) -> Discover:
    if request.param == "in_process":
        return lambda path: discover_in_process(path, default_timezone="UTC")
    return child


def by_name(result: DiscoveryResult) -> dict[str, HelperSpec]:
    return {h.name: h for h in result.helpers}


def reasons(result: DiscoveryResult) -> dict[str, str]:
    return {Path(e.source).name: e.reason for e in result.errors}


def ctx(**overrides: Any) -> ExecutionContext:
    fields: dict[str, Any] = dict(
        execution_id="e-1",
        helper="h",
        execution_time=datetime(2026, 1, 2, 8, 30, tzinfo=UTC),
        attempt=1,
    )
    fields.update(overrides)
    return ExecutionContext(**fields)


# --- good helpers ------------------------------------------------------------------------------


def test_good_helpers_named_by_stem_and_by_attribute(tmp_path: Path, run_discovery: Discover) -> None:
    write(tmp_path, "weather.py", GOOD)
    write(
        tmp_path,
        "reports.py",
        """
        from queuectl.helper import BaseHelper

        class Daily(BaseHelper):
            name = "daily-report.v2"
            def run(self, ctx=None):
                pass
            def get_schedule_config(self):
                return {"type": "interval", "seconds": 60, "nested": {"a": [1, 2]}}
        """,
    )
    result = run_discovery(tmp_path)
    assert result.errors == []
    assert [h.name for h in result.helpers] == ["daily-report.v2", "weather"]
    weather = by_name(result)["weather"]
    assert weather == HelperSpec(
        name="weather",
        class_name="Weather",
        source=str(tmp_path / "weather.py"),
        config={"type": "daily", "time": "08:30:00", "priority": 1},
        config_error=None,
        schedule=parse_schedule({"type": "daily", "time": "08:30:00", "priority": 1}, default_timezone="UTC"),
    )
    assert weather.problem is None
    assert os.path.isabs(weather.source)
    assert by_name(result)["daily-report.v2"].config == {
        "type": "interval",
        "seconds": 60,
        "nested": {"a": [1, 2]},
    }


def test_only_concrete_classes_defined_in_the_module_count(tmp_path: Path, run_discovery: Discover) -> None:
    write(
        tmp_path,
        "_common.py",
        """
        from queuectl.helper import BaseHelper
        VALUE = 42
        class Shared(BaseHelper):
            name = "shared"
            def get_schedule_config(self):
                return {}
        """,
    )
    write(
        tmp_path,
        "main.py",
        """
        from queuectl.helper import BaseHelper
        from _common import VALUE, Shared   # sibling import works; Shared is not main.py's

        class Base(BaseHelper):
            abstract = True
            def get_schedule_config(self):
                return {"value": VALUE}

        class _Private(Base):
            pass

        class Concrete(Base):
            pass
        """,
    )
    write(tmp_path, ".hidden.py", GOOD)
    write(tmp_path / "sub", "nested.py", GOOD)
    (tmp_path / "notes.txt").write_text("not python")
    result = run_discovery(tmp_path)
    assert result.errors == []
    assert [(h.name, h.class_name, h.config) for h in result.helpers] == [("main", "Concrete", {"value": 42})]


def test_classes_made_with_type_count_even_outside_globals(tmp_path: Path, run_discovery: Discover) -> None:
    write(
        tmp_path,
        "dyn.py",
        """
        from queuectl.helper import BaseHelper

        def config(self):
            return {"type": "daily", "time": "09:00:00"}

        KEPT = [type(f"D{i}", (BaseHelper,), {"name": f"dyn-{i}", "get_schedule_config": config})
                for i in range(3)]
        Bound = type("Bound", (BaseHelper,), {"name": "bound", "get_schedule_config": config})
        """,
    )
    result = run_discovery(tmp_path)
    assert result.errors == []
    assert [h.name for h in result.helpers] == ["bound", "dyn-0", "dyn-1", "dyn-2"]


def test_ten_thousand_dynamic_classes_discover_fast(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bench.py",
        """
        from queuectl.helper import BaseHelper

        def _run(self):
            return None

        def _config(self):
            return {"type": "daily", "time": "08:30:00", "priority": 1}

        for _i in range(10_000):
            globals()[f"H_{_i}"] = type(
                f"H_{_i}", (BaseHelper,),
                {"name": f"h_{_i}", "run": _run, "get_schedule_config": _config},
            )
        """,
    )
    start = time.perf_counter()
    result = discover(tmp_path, default_timezone="UTC", timeout=20)
    elapsed = time.perf_counter() - start
    print(f"10k-class discover(): {elapsed:.3f} s")
    assert result.errors == []
    assert len(result.helpers) == 10_000
    assert all(h.config == {"type": "daily", "time": "08:30:00", "priority": 1} for h in result.helpers)
    assert elapsed < 3.0, elapsed


def test_helper_prints_at_import_do_not_break_discover(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        "noisy.py",
        """
        import os, sys
        from queuectl.helper import BaseHelper
        print("{not json")
        sys.stdout.write("more noise\\n")
        os.write(1, b"raw fd noise\\n")

        class Noisy(BaseHelper):
            def get_schedule_config(self):
                print("noise from get_schedule_config")
                return {"type": "daily"}
        """,
    )
    result = discover(tmp_path, default_timezone="UTC", timeout=20)
    assert result.errors == []
    assert by_name(result)["noisy"].config == {"type": "daily"}
    err = capfd.readouterr().err
    assert "{not json" in err and "raw fd noise" in err  # passed through on stderr


def test_file_named_json_does_not_shadow_stdlib(tmp_path: Path, run_discovery: Discover) -> None:
    write(
        tmp_path,
        "json.py",
        """
        from queuectl.helper import BaseHelper
        class JsonHelper(BaseHelper):
            def get_schedule_config(self):
                return {"type": "daily"}
        """,
    )
    write(
        tmp_path,
        "user.py",
        """
        import json
        from queuectl.helper import BaseHelper
        assert hasattr(json, "dumps"), "the helpers' json.py shadowed the stdlib"
        class User(BaseHelper):
            def get_schedule_config(self):
                return json.loads('{"type": "weekly"}')
        """,
    )
    result = run_discovery(tmp_path)
    assert result.errors == []
    assert by_name(result)["json"].config == {"type": "daily"}
    assert by_name(result)["user"].config == {"type": "weekly"}
    assert hasattr(json, "dumps")


# --- files that fail to import -----------------------------------------------------------------


def test_import_failures_are_reported_per_file(tmp_path: Path, run_discovery: Discover) -> None:
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "syntax.py", "x = 1\ny = 2\ndef broken(:\n    pass\n")
    write(tmp_path, "missing.py", "import nope_no_such_module_xyz\n")
    write(tmp_path, "boom.py", "raise RuntimeError('boom\\nsecond line\\x07')\n")
    write(tmp_path, "leaves.py", "import sys\nsys.exit(3)\n")
    write(tmp_path, "interrupt.py", "raise KeyboardInterrupt\n")
    write(tmp_path, "long.py", "raise ValueError('x' * 1000)\n")
    result = run_discovery(tmp_path)
    assert [h.name for h in result.helpers] == ["good"]
    got = reasons(result)
    assert got["syntax.py"].startswith("SyntaxError: ") and got["syntax.py"].endswith("(line 3)")
    assert got["missing.py"] == "ModuleNotFoundError: No module named 'nope_no_such_module_xyz'"
    assert got["boom.py"] == "RuntimeError: boom second line at import"
    assert got["leaves.py"] == "SystemExit: 3 at import"
    assert got["interrupt.py"] == "KeyboardInterrupt at import"
    assert got["long.py"].startswith("ValueError: xxx") and len(got["long.py"]) == 300
    assert all("\n" not in e.reason for e in result.errors)
    assert [e.source for e in result.errors] == sorted(e.source for e in result.errors)
    assert all(os.path.isabs(e.source) for e in result.errors)


def test_file_that_hangs_at_import_times_out_and_others_load(tmp_path: Path) -> None:
    write(tmp_path, "a_good.py", GOOD)
    write(tmp_path, "hang.py", "while True:\n    pass\n")
    write(tmp_path, "z_good.py", GOOD.replace("Weather", "Other"))
    start = time.perf_counter()
    result = discover(tmp_path, default_timezone="UTC", timeout=3)
    elapsed = time.perf_counter() - start
    assert [h.name for h in result.helpers] == ["a_good", "z_good"]
    assert result.errors == [LoadError(source=str(tmp_path / "hang.py"), reason="import timed out after 3 s")]
    assert elapsed < 15, elapsed


def test_file_that_kills_the_process_is_identified(tmp_path: Path) -> None:
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "exits.py", "import os\nos._exit(7)\n")
    write(tmp_path, "exits_zero.py", "import os\nos._exit(0)\n")
    write(tmp_path, "segv.py", "import ctypes\nctypes.string_at(0)\n")
    result = discover(tmp_path, default_timezone="UTC", timeout=20)
    assert [h.name for h in result.helpers] == ["good"]
    got = reasons(result)
    assert got["exits.py"] == "import killed the process (exit code 7)"
    assert got["segv.py"] == "import killed the process (exit code -11)"
    assert "exits_zero.py" in got


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a:b", "a*", "../x", "", "-x", "a" * 65, "a\n", "é"])
def test_bad_names_skip_only_that_class(tmp_path: Path, bad: str) -> None:
    write(
        tmp_path,
        "names.py",
        f"""
        from queuectl.helper import BaseHelper
        class Bad(BaseHelper):
            name = {bad!r}
            def get_schedule_config(self):
                return {{}}
        class Fine(BaseHelper):
            name = "fine"
            def get_schedule_config(self):
                return {{}}
        """,
    )
    result = discover_in_process(tmp_path, default_timezone="UTC")
    assert [h.name for h in result.helpers] == ["fine"]
    (error,) = result.errors
    assert error.source == str(tmp_path / "names.py")
    assert error.reason == (f"helper name {bad!r} in class Bad: must match [A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}")


def test_name_edge_cases(tmp_path: Path) -> None:
    write(
        tmp_path,
        "edge.py",
        f"""
        from queuectl.helper import BaseHelper
        class Longest(BaseHelper):
            name = {"a" * 64!r}
            def get_schedule_config(self):
                return {{}}
        class NotStr(BaseHelper):
            name = 5
            def get_schedule_config(self):
                return {{}}
        """,
    )
    write(tmp_path, "bad stem.py", GOOD)
    result = discover_in_process(tmp_path, default_timezone="UTC")
    assert [h.name for h in result.helpers] == ["a" * 64]
    got = [e.reason for e in result.errors]
    assert got == [
        "helper name 'bad stem' in class Weather: must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
        "helper name in class NotStr must be a str, got int",
    ]


def test_duplicate_names_across_files(tmp_path: Path, run_discovery: Discover) -> None:
    for filename, cls in (("a.py", "A"), ("b.py", "B")):
        write(
            tmp_path,
            filename,
            f"""
            from queuectl.helper import BaseHelper
            class {cls}(BaseHelper):
                name = "weathery"
                def get_schedule_config(self):
                    return {{}}
            """,
        )
    with pytest.raises(HelperLoadError) as info:
        run_discovery(tmp_path)
    assert str(info.value) == (
        f"duplicate helper name 'weathery': {tmp_path / 'a.py'} (class A) and {tmp_path / 'b.py'} (class B)"
    )
    assert info.value.exit_code == 2


def test_several_unnamed_classes_in_one_file_are_duplicates(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pair.py",
        """
        from queuectl.helper import BaseHelper
        class First(BaseHelper):
            def get_schedule_config(self):
                return {}
        class Second(BaseHelper):
            def get_schedule_config(self):
                return {}
        """,
    )
    with pytest.raises(
        HelperLoadError, match=r"duplicate helper name 'pair': .*\(class First\) and .*\(class Second\)"
    ):
        discover_in_process(tmp_path, default_timezone="UTC")


# --- schedule configs --------------------------------------------------------------------------


def test_bad_schedule_configs_become_config_errors(tmp_path: Path, run_discovery: Discover) -> None:
    write(
        tmp_path,
        "configs.py",
        """
        import datetime
        from collections import OrderedDict
        from queuectl.helper import BaseHelper

        class Raises(BaseHelper):
            name = "raises"
            def get_schedule_config(self):
                raise ValueError("no\\nschedule")

        class ReturnsList(BaseHelper):
            name = "returns-list"
            def get_schedule_config(self):
                return [1, 2]

        class NotJson(BaseHelper):
            name = "not-json"
            def get_schedule_config(self):
                return {"time": datetime.time(8, 30)}

        class CannotInit(BaseHelper):
            name = "cannot-init"
            def __init__(self, required):
                pass
            def get_schedule_config(self):
                return {}

        class Missing(BaseHelper):
            name = "missing"

        class Ordered(BaseHelper):
            name = "ordered"
            def get_schedule_config(self):
                return OrderedDict(type="daily")
        """,
    )
    helpers = by_name(run_discovery(tmp_path))
    assert helpers["raises"].config is None
    assert helpers["raises"].config_error == "get_schedule_config() raised ValueError: no schedule"
    assert helpers["returns-list"].config is None
    assert helpers["returns-list"].config_error == "get_schedule_config() returned list, expected a dict"
    assert helpers["not-json"].config is None
    assert "not plain JSON data" in (helpers["not-json"].config_error or "")
    assert (helpers["cannot-init"].config_error or "").startswith("cannot instantiate CannotInit: TypeError")
    assert (helpers["missing"].config_error or "").startswith("get_schedule_config() raised NotImplementedError")
    assert helpers["ordered"].config == {"type": "daily"}
    assert type(helpers["ordered"].config) is dict
    assert helpers["ordered"].config_error is None
    # what the code returned is read into the schedule model once, here; a config that is no
    # valid schedule says why, and so does one whose get_schedule_config() failed
    assert helpers["ordered"].schedule is None
    assert (helpers["ordered"].schedule_error or "").startswith("invalid schedule: time=None")
    assert helpers["ordered"].problem == helpers["ordered"].schedule_error
    assert helpers["raises"].schedule is None and helpers["raises"].schedule_error is None
    assert helpers["raises"].problem == "get_schedule_config() failed: " + (helpers["raises"].config_error or "")


# --- directories -------------------------------------------------------------------------------


def test_missing_directory(tmp_path: Path, run_discovery: Discover) -> None:
    missing = tmp_path / "nope"
    assert run_discovery(missing) == DiscoveryResult(
        helpers=[], errors=[LoadError(source=str(missing), reason="helpers directory not found")]
    )


def test_not_a_directory(tmp_path: Path, run_discovery: Discover) -> None:
    path = write(tmp_path, "file.py", GOOD)
    assert run_discovery(path) == DiscoveryResult(
        helpers=[], errors=[LoadError(source=str(path), reason="not a directory")]
    )


def test_empty_directory(tmp_path: Path, run_discovery: Discover) -> None:
    assert run_discovery(tmp_path) == DiscoveryResult(helpers=[], errors=[])


# --- load_helper_class -------------------------------------------------------------------------


def test_load_helper_class_reloads_a_changed_file(tmp_path: Path) -> None:
    path = write(tmp_path, "weather.py", GOOD)
    first = load_helper_class(str(path), "weather")
    assert issubclass(first, BaseHelper) and first.__name__ == "Weather"
    assert load_helper_class(str(path), "weather") is first  # cached while unchanged
    assert first().run() == "sunny"

    write(tmp_path, "weather.py", GOOD.replace("Weather", "Forecast").replace("sunny", "rain"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = load_helper_class(str(path), "weather")
    assert second is not first
    assert second.__name__ == "Forecast"
    assert second().run() == "rain"


def test_load_helper_class_lookup_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "weather.py", GOOD)
    with pytest.raises(LookupError, match="no helper named 'other'"):
        load_helper_class(str(path), "other")
    with pytest.raises(LookupError, match="not found"):
        load_helper_class(str(tmp_path / "gone.py"), "gone")
    broken = write(tmp_path, "broken.py", "raise RuntimeError('boom')\n")
    with pytest.raises(HelperLoadError, match="RuntimeError: boom at import"):
        load_helper_class(str(broken), "broken")


# --- call_run ----------------------------------------------------------------------------------


class Plain(BaseHelper):
    def run(self) -> str:
        return "plain"


class WithCtx(BaseHelper):
    def run(self, ctx: ExecutionContext | None) -> str:
        assert ctx is not None
        return f"ctx:{ctx.execution_id}"


class WithOptionalCtx(BaseHelper):
    def run(self, ctx: ExecutionContext | None = None) -> str:
        return f"optional:{ctx.attempt if ctx else None}"


class WithVarArgs(BaseHelper):
    def run(self, *args: Any) -> str:
        return f"varargs:{len(args)}"


class AsyncCtx(BaseHelper):
    async def run(self, ctx: ExecutionContext | None = None) -> str:
        await asyncio.sleep(0)
        return f"async:{ctx.helper if ctx else None}"


class AsyncPlain(BaseHelper):
    async def run(self) -> str:  # type: ignore[override]
        await asyncio.sleep(0)
        return "async-plain"


class ReturnsCoroutine(BaseHelper):
    def run(self) -> Any:  # type: ignore[override]
        async def inner() -> str:
            return "coroutine"

        return inner()


class Fails(BaseHelper):
    async def run(self, ctx: ExecutionContext | None = None) -> None:
        raise ValueError("helper failed")


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (Plain, "plain"),
        (WithCtx, "ctx:e-1"),
        (WithOptionalCtx, "optional:1"),
        (WithVarArgs, "varargs:1"),
        (AsyncCtx, "async:h"),
        (AsyncPlain, "async-plain"),
        (ReturnsCoroutine, "coroutine"),
    ],
)
def test_call_run(cls: type[BaseHelper], expected: str) -> None:
    helper = cls()
    assert call_run(helper, ctx()) == expected
    assert call_run(helper, ctx()) == expected  # second call uses the cached signature


def test_call_run_does_not_catch() -> None:
    with pytest.raises(ValueError, match="helper failed"):
        call_run(Fails(), ctx())
    with pytest.raises(NotImplementedError):
        call_run(BaseHelper(), ctx())


def test_execution_context_requires_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ctx(execution_time=datetime(2026, 1, 2, 8, 30))
    paris = timezone(timedelta(hours=1))
    converted = ctx(execution_time=datetime(2026, 1, 2, 9, 30, tzinfo=paris))
    assert converted.execution_time == datetime(2026, 1, 2, 8, 30, tzinfo=UTC)
    assert converted.execution_time.utcoffset() == timedelta(0)
    assert converted.dispatcher_id is None
    with pytest.raises(ValueError, match="attempt"):
        ctx(attempt=0)


def test_helpers_dir_is_appended_not_prepended(tmp_path: Path) -> None:
    write(tmp_path, "json.py", GOOD)
    discover_in_process(tmp_path, default_timezone="UTC")
    assert sys.path.index(str(tmp_path)) > 0
    import importlib

    assert importlib.import_module("json") is json
