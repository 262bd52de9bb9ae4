"""Find the user's helper classes in `helpers/*.py` without trusting them, and read their
schedules into the schedule model: this is where a helper's schedule enters queuectl.

Helper files are arbitrary user code: they may fail to import, print, hang, call os._exit or
crash the interpreter. `discover` therefore imports them in a child process with a timeout and
reads back a JSON report, so one bad file is reported as a LoadError and never takes the CLI
down (runtime/helper_loader.py imports the files). The report's schedules are then parsed, once,
in this process.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from dataclasses import replace
from typing import Any

from queuectl.domain.discovered import DiscoveryResult, HelperSpec, LoadError
from queuectl.domain.errors import HelperLoadError, InvalidSchedule
from queuectl.domain.schedule import parse_schedule
from queuectl.helper import BaseHelper
from queuectl.infra.process import kill_group
from queuectl.runtime.helper_loader import (
    describe,
    describe_import_error,
    ensure_on_path,
    helper_classes,
    helper_name,
    import_file,
    one_line,
)
from queuectl.runtime.legacy_bridge import has_legacy_schedule, has_schedule_config, read_legacy


def _schedule_config(cls: type[BaseHelper]) -> tuple[dict[str, Any] | None, str | None]:
    """(config, None) or (None, one-line reason). The config is a JSON round-trip copy, so it is
    plain data and identical whether discovery ran in this process or in a child."""
    try:
        instance = cls()
    except BaseException as exc:  # noqa: BLE001 - user code; report, never propagate
        return None, one_line(f"cannot instantiate {cls.__qualname__}: {describe(exc)}")
    try:
        config = instance.get_schedule_config()
    except BaseException as exc:  # noqa: BLE001
        return None, one_line(f"get_schedule_config() raised {describe(exc)}")
    if not isinstance(config, dict):
        return None, one_line(f"get_schedule_config() returned {type(config).__name__}, expected a dict")
    try:
        return json.loads(json.dumps(config)), None
    except (TypeError, ValueError, RecursionError) as exc:
        return None, one_line(f"get_schedule_config() returned a dict that is not plain JSON data: {describe(exc)}")


def _legacy_spec(cls: type[BaseHelper], name: str, path: str) -> HelperSpec | LoadError:
    """A helper with only the legacy schedule(): its translated config, or why it is refused.

    Refusals are LoadErrors, like a file that fails to import: a new helper gets no catalog
    entry and nothing is planned for it; one registered before becomes broken.
    """

    def refused(reason: str) -> LoadError:
        return LoadError(source=path, reason=one_line(f"helper {name}: {reason}"))

    try:
        instance = cls()
    except BaseException as exc:  # noqa: BLE001 - user code; report, never propagate
        return refused(f"cannot instantiate {cls.__qualname__}: {describe(exc)}")
    try:
        outcome = read_legacy(instance)
    except BaseException as exc:  # noqa: BLE001 - schedule() is user code, like an import
        return refused(f"legacy schedule() raised {describe(exc)}")
    if isinstance(outcome, str):
        return refused(outcome)
    return HelperSpec(
        name=name,
        class_name=cls.__qualname__,
        source=path,
        config=outcome.config,
        config_error=None,
        schedule_source="legacy",
        legacy_call=outcome.call,
    )


def _scan_file(path: str) -> tuple[list[HelperSpec], list[LoadError]]:
    """Import one file and describe its helpers; every problem becomes a LoadError."""
    try:
        module = import_file(path)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        return [], [LoadError(source=path, reason=describe_import_error(exc, path))]
    helpers: list[HelperSpec] = []
    errors: list[LoadError] = []
    try:
        for cls in helper_classes(module):
            name, problem = helper_name(cls, path)
            if name is None:
                errors.append(LoadError(source=path, reason=problem or "bad helper name"))
                continue
            legacy = has_legacy_schedule(cls)
            if legacy and not has_schedule_config(cls):
                found = _legacy_spec(cls, name, path)
                if isinstance(found, HelperSpec):
                    helpers.append(found)
                else:
                    errors.append(found)
                continue
            config, config_error = _schedule_config(cls)
            helpers.append(
                HelperSpec(
                    name=name,
                    class_name=cls.__qualname__,
                    source=path,
                    config=config,
                    config_error=config_error,
                    legacy_ignored=legacy,
                )
            )
    finally:
        sys.modules.pop(module.__name__, None)  # discovery only needs the description
    return helpers, errors


def _directory_problem(directory: str) -> LoadError | None:
    if not os.path.exists(directory):
        return LoadError(source=directory, reason="helpers directory not found")
    if not os.path.isdir(directory):
        return LoadError(source=directory, reason="not a directory")
    return None


def _helper_files(directory: str) -> list[str]:
    """`*.py` directly in the directory, not `_private.py` or `.hidden.py`, sorted."""
    files = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(("_", ".")) or not entry.name.endswith(".py"):
                continue
            if entry.is_file():
                files.append(os.path.join(directory, entry.name))
    return sorted(files)


def _scan_dir(directory: str) -> tuple[list[HelperSpec], list[LoadError]]:
    """All files of a directory, without the duplicate check (the parent does that)."""
    problem = _directory_problem(directory)
    if problem is not None:
        return [], [problem]
    ensure_on_path(directory)
    helpers: list[HelperSpec] = []
    errors: list[LoadError] = []
    for path in _helper_files(directory):
        found, failed = _scan_file(path)
        helpers.extend(found)
        errors.extend(failed)
    return helpers, errors


def _with_schedule(spec: HelperSpec, default_timezone: str) -> HelperSpec:
    """The spec with its config read into the schedule model (or why it cannot be)."""
    if spec.config is None:
        return spec
    try:
        schedule = parse_schedule(spec.config, default_timezone=default_timezone)
    except InvalidSchedule as exc:
        return replace(spec, schedule_error=str(exc))
    return replace(spec, schedule=schedule)


def _finish(helpers: list[HelperSpec], errors: list[LoadError], default_timezone: str) -> DiscoveryResult:
    """Parse the schedules, sort, and refuse the whole set if two helpers share a name."""
    helpers = [_with_schedule(spec, default_timezone) for spec in helpers]
    helpers = sorted(helpers, key=lambda h: h.name)  # stable: file order, then class order
    errors = sorted(errors, key=lambda e: e.source)
    groups: dict[str, list[HelperSpec]] = {}
    for spec in helpers:
        groups.setdefault(spec.name, []).append(spec)
    duplicates = [group for group in groups.values() if len(group) > 1]
    if duplicates:
        first, second, *rest = duplicates[0]
        message = (
            f"duplicate helper name {first.name!r}: {first.source} (class {first.class_name})"
            f" and {second.source} (class {second.class_name})"
        )
        if rest:
            message += f" and {len(rest)} more"
        if len(duplicates) > 1:
            others = ", ".join(repr(group[0].name) for group in duplicates[1:6])
            message += f"; also duplicated: {others}" + (", ..." if len(duplicates) > 6 else "")
        raise HelperLoadError(message)
    return DiscoveryResult(helpers=helpers, errors=errors)


def discover_in_process(helpers_dir: str | os.PathLike[str], *, default_timezone: str) -> DiscoveryResult:
    """Discover in this process: used by the child of `discover` and by tests."""
    directory = os.path.abspath(os.fspath(helpers_dir))
    return _finish(*_scan_dir(directory), default_timezone)


# ---------------------------------------------------------------------------------------------
# Running discovery in a child process

# `-P`: the child's sys.path[0] is not the current directory, so a json.py there cannot shadow
# the stdlib. `-c` instead of `-m queuectl.runtime.discovery`: no second copy of this module as
# __main__ (and no runpy warning if the package imports it).
_CHILD_CODE = "import sys; from queuectl.runtime.discovery import _child_main; _child_main(sys.argv[1:])"


def _child_command(args: list[str]) -> list[str]:
    return [sys.executable, "-P", "-c", _CHILD_CODE, *args]


def _child_env() -> dict[str, str]:
    """The caller's environment, plus where this queuectl lives so the child imports the same
    code even when the caller found it through a sys.path tweak rather than PYTHONPATH."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([*parts, root])
    return env


def _run_child(args: list[str], timeout: float) -> tuple[list[HelperSpec], list[LoadError]] | str:
    """Run one discovery child; its parsed report, or why it gave none (one line)."""
    proc = subprocess.Popen(
        _child_command(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,  # passed through: helper prints and tracebacks reach the user
        env=_child_env(),
        start_new_session=True,  # its own process group, so a timeout kills helper subprocesses too
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return f"import timed out after {timeout:g} s"
    except BaseException:
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        return f"import killed the process (exit code {proc.returncode})"
    try:
        return _parse_report(out)
    except (ValueError, TypeError, KeyError):
        return f"import ended the process before discovery finished (exit code {proc.returncode})"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid)
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL not honoured
        proc.kill()
        proc.wait()


def _report(helpers: list[HelperSpec], errors: list[LoadError]) -> bytes:
    document = {
        "helpers": [
            {
                "name": h.name,
                "class_name": h.class_name,
                "source": h.source,
                "config": h.config,
                "config_error": h.config_error,
                "schedule_source": h.schedule_source,
                "legacy_call": h.legacy_call,
                "legacy_ignored": h.legacy_ignored,
            }
            for h in helpers
        ],
        "errors": [{"source": e.source, "reason": e.reason} for e in errors],
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"


def _parse_report(data: bytes) -> tuple[list[HelperSpec], list[LoadError]]:
    document = json.loads(data)
    helpers = [
        HelperSpec(
            name=str(h["name"]),
            class_name=str(h["class_name"]),
            source=str(h["source"]),
            config=h["config"],
            config_error=h["config_error"],
            schedule_source=str(h.get("schedule_source") or "config"),
            legacy_call=h.get("legacy_call"),
            legacy_ignored=bool(h.get("legacy_ignored")),
        )
        for h in document["helpers"]
    ]
    errors = [LoadError(source=str(e["source"]), reason=str(e["reason"])) for e in document["errors"]]
    return helpers, errors


def discover(helpers_dir: str | os.PathLike[str], *, default_timezone: str, timeout: float = 20.0) -> DiscoveryResult:
    """Discover helpers in a child process, so no helper file can hang or kill the caller.

    Normally one child handles every file. If it times out or dies, each file is imported in
    its own child (in parallel) to name the guilty file; the other files still load.
    Raises HelperLoadError when two helpers share a name.
    """
    directory = os.path.abspath(os.fspath(helpers_dir))
    problem = _directory_problem(directory)
    if problem is not None:
        return DiscoveryResult(helpers=[], errors=[problem])
    files = _helper_files(directory)
    if not files:
        return DiscoveryResult(helpers=[], errors=[])
    outcome = _run_child([directory], timeout)
    if not isinstance(outcome, str):
        return _finish(*outcome, default_timezone)

    def one(path: str) -> tuple[list[HelperSpec], list[LoadError]]:
        result = _run_child(["--file", path], timeout)
        return ([], [LoadError(source=path, reason=result)]) if isinstance(result, str) else result

    workers = max(1, min(len(files), os.cpu_count() or 2, 8))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(one, files))
    helpers = [h for found, _ in outcomes for h in found]
    errors = [e for _, failed in outcomes for e in failed]
    return _finish(helpers, errors, default_timezone)


def _no_core_dumps() -> None:
    """A helper that segfaults the child should not leave a core file in the user's directory."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass


def _child_main(argv: list[str]) -> None:
    """Child entry: `DIR` or `--file PATH`. Writes the JSON report to the real stdout and
    exits at once (so helper threads or atexit hooks cannot keep it alive)."""
    # Helpers' prints (even from C code or subprocesses) must not corrupt the report: point
    # fd 1 at stderr and keep a private, non-inheritable copy of the real stdout.
    _no_core_dumps()
    sys.stdout.flush()
    report_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if len(argv) == 2 and argv[0] == "--file":
        path = os.path.abspath(argv[1])
        ensure_on_path(os.path.dirname(path))
        helpers, errors = _scan_file(path)
    elif len(argv) == 1 and not argv[0].startswith("-"):
        helpers, errors = _scan_dir(os.path.abspath(argv[0]))
    else:
        sys.stderr.write("usage: python -m queuectl.runtime.discovery HELPERS_DIR | --file PATH\n")
        sys.stderr.flush()
        os._exit(2)
    data = _report(helpers, errors)
    with os.fdopen(report_fd, "wb") as out:
        out.write(data)
    try:
        sys.stderr.flush()
    finally:
        os._exit(0)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
