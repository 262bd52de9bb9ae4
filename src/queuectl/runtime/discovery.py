"""Find the user's helper classes in `helpers/*.py` without trusting them.

Helper files are arbitrary user code: they may fail to import, print, hang, call os._exit or
crash the interpreter. `discover` therefore imports them in a child process with a timeout and
reads back a JSON report, so one bad file is reported as a LoadError and never takes the CLI
down. Files are imported by path under a synthetic module name, so a helper called json.py
or redis.py can never shadow the real module.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.machinery
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import types
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterator

from queuectl.domain.errors import HelperLoadError
from queuectl.infra.process import kill_group
from queuectl.helper import BaseHelper
from queuectl.domain.keys import NAME_RE

__all__ = [
    "NAME_RE",
    "DiscoveryResult",
    "HelperSpec",
    "LoadError",
    "discover",
    "discover_in_process",
    "load_helper_class",
]

_PACKAGE = "queuectl_helpers"  # parent of every synthetic helper module name
_MAX_REASON = 300


@dataclass(frozen=True, kw_only=True)
class HelperSpec:
    """One helper class found in a file, with what it says about its schedule."""

    name: str
    class_name: str
    source: str  # absolute path of the file
    config: dict[str, Any] | None  # what get_schedule_config() returned (a plain copy), or None
    config_error: str | None  # one-line reason when get_schedule_config() failed


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


# ---------------------------------------------------------------------------------------------
# Importing one file by path


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compile from source every time: no __pycache__ in the helpers dir, and no stale
    bytecode when a file is rewritten twice within the pyc's one-second mtime resolution."""

    def get_code(self, fullname: str) -> types.CodeType:
        return self.source_to_code(self.get_data(self.path), self.path)


_load_counter = itertools.count(1)


def _module_name(path: str) -> str:
    """A fresh module name per load, so classes from an older load never match a newer one."""
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0]) or "_"
    digest = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{_PACKAGE}.{stem}_{digest}_{next(_load_counter)}"


def _ensure_parent_package() -> None:
    """Give synthetic names a parent in sys.modules so pickle/dataclasses can resolve them."""
    if _PACKAGE not in sys.modules:
        package = types.ModuleType(_PACKAGE, "Synthetic parent of helper modules imported by path.")
        package.__path__ = []
        sys.modules[_PACKAGE] = package


def _import_file(path: str) -> types.ModuleType:
    """Execute the file at `path` as a new module; the module stays in sys.modules."""
    name = _module_name(path)
    loader = _SourceOnlyLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:  # pragma: no cover - only for paths importlib cannot handle at all
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    _ensure_parent_package()
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _ensure_on_path(directory: str) -> None:
    """Let helpers import sibling modules; appended, so stdlib and site packages still win."""
    if directory not in sys.path:
        sys.path.append(directory)


def _one_line(text: str) -> str:
    """Control characters out, whitespace collapsed, at most 300 characters."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _describe(exc: BaseException) -> str:
    """'ExcType: message' (or just 'ExcType' when there is no message)."""
    message = str(exc.code) if isinstance(exc, SystemExit) else str(exc)
    kind = type(exc).__name__
    return f"{kind}: {message}" if message else kind


def _describe_import_error(exc: BaseException, path: str) -> str:
    """One line for a file that failed to import, in the form the CLI shows."""
    if isinstance(exc, SyntaxError):
        where = f"line {exc.lineno}"
        if exc.filename and os.path.abspath(exc.filename) != path:
            where = f"{exc.filename}, {where}"  # the error is in a module the helper imports
        return _one_line(f"{type(exc).__name__}: {exc.msg} ({where})")
    if isinstance(exc, ImportError):
        return _one_line(_describe(exc))
    return _one_line(f"{_describe(exc)} at import")


# ---------------------------------------------------------------------------------------------
# Finding helper classes in a module


def _descendants(cls: type) -> Iterator[type]:
    """Every subclass of `cls`, depth first, each once."""
    seen: set[int] = set()
    stack = list(reversed(type.__subclasses__(cls)))
    while stack:
        sub = stack.pop()
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        yield sub
        stack.extend(reversed(type.__subclasses__(sub)))


def _is_helper_class(obj: object, module_name: str) -> bool:
    """A concrete BaseHelper subclass defined in the module `module_name`."""
    if not isinstance(obj, type) or obj is BaseHelper:
        return False
    try:
        if not issubclass(obj, BaseHelper):
            return False
    except TypeError:
        return False
    if getattr(obj, "__module__", None) != module_name:
        return False
    if obj.__name__.startswith("_") or vars(obj).get("abstract", False) is True:
        return False
    return True


def _helper_classes(module: types.ModuleType) -> list[type[BaseHelper]]:
    """Helper classes of `module`: its globals in order, then any made with type() elsewhere
    in it (kept in a list, say), found through BaseHelper's subclass tree."""
    found: list[type[BaseHelper]] = []
    seen: set[int] = set()
    for obj in list(vars(module).values()):
        if id(obj) not in seen and _is_helper_class(obj, module.__name__):
            seen.add(id(obj))
            found.append(obj)  # type: ignore[arg-type]
    for sub in _descendants(BaseHelper):
        if id(sub) not in seen and _is_helper_class(sub, module.__name__):
            seen.add(id(sub))
            found.append(sub)
    return found


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _helper_name(cls: type[BaseHelper], path: str) -> tuple[str | None, str | None]:
    """(name, None) or (None, reason the class's name is refused)."""
    explicit = getattr(cls, "name", None)
    if explicit is None:
        name = _stem(path)
    elif isinstance(explicit, str):
        name = explicit
    else:
        return None, _one_line(
            f"helper name in class {cls.__qualname__} must be a str, got {type(explicit).__name__}"
        )
    if not NAME_RE.fullmatch(name):
        return None, _one_line(
            f"helper name {name!r} in class {cls.__qualname__}: "
            f"must match [A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}"
        )
    return name, None


def _schedule_config(cls: type[BaseHelper]) -> tuple[dict[str, Any] | None, str | None]:
    """(config, None) or (None, one-line reason). The config is a JSON round-trip copy, so it is
    plain data and identical whether discovery ran in this process or in a child."""
    try:
        instance = cls()
    except BaseException as exc:  # noqa: BLE001 - user code; report, never propagate
        return None, _one_line(f"cannot instantiate {cls.__qualname__}: {_describe(exc)}")
    try:
        config = instance.get_schedule_config()
    except BaseException as exc:  # noqa: BLE001
        return None, _one_line(f"get_schedule_config() raised {_describe(exc)}")
    if not isinstance(config, dict):
        return None, _one_line(
            f"get_schedule_config() returned {type(config).__name__}, expected a dict"
        )
    try:
        return json.loads(json.dumps(config)), None
    except (TypeError, ValueError, RecursionError) as exc:
        return None, _one_line(
            f"get_schedule_config() returned a dict that is not plain JSON data: {_describe(exc)}"
        )


def _scan_file(path: str) -> tuple[list[HelperSpec], list[LoadError]]:
    """Import one file and describe its helpers; every problem becomes a LoadError."""
    try:
        module = _import_file(path)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        return [], [LoadError(source=path, reason=_describe_import_error(exc, path))]
    helpers: list[HelperSpec] = []
    errors: list[LoadError] = []
    try:
        for cls in _helper_classes(module):
            name, problem = _helper_name(cls, path)
            if name is None:
                errors.append(LoadError(source=path, reason=problem or "bad helper name"))
                continue
            config, config_error = _schedule_config(cls)
            helpers.append(
                HelperSpec(
                    name=name,
                    class_name=cls.__qualname__,
                    source=path,
                    config=config,
                    config_error=config_error,
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
    _ensure_on_path(directory)
    helpers: list[HelperSpec] = []
    errors: list[LoadError] = []
    for path in _helper_files(directory):
        found, failed = _scan_file(path)
        helpers.extend(found)
        errors.extend(failed)
    return helpers, errors


def _finish(helpers: list[HelperSpec], errors: list[LoadError]) -> DiscoveryResult:
    """Sort, and refuse the whole set if two helpers share a name."""
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


def discover_in_process(helpers_dir: str | os.PathLike[str]) -> DiscoveryResult:
    """Discover in this process: used by the child of `discover` and by tests."""
    directory = os.path.abspath(os.fspath(helpers_dir))
    return _finish(*_scan_dir(directory))


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
        )
        for h in document["helpers"]
    ]
    errors = [LoadError(source=str(e["source"]), reason=str(e["reason"])) for e in document["errors"]]
    return helpers, errors


def discover(helpers_dir: str | os.PathLike[str], *, timeout: float = 20.0) -> DiscoveryResult:
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
        return _finish(*outcome)

    def one(path: str) -> tuple[list[HelperSpec], list[LoadError]]:
        result = _run_child(["--file", path], timeout)
        return ([], [LoadError(source=path, reason=result)]) if isinstance(result, str) else result

    workers = max(1, min(len(files), os.cpu_count() or 2, 8))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(one, files))
    helpers = [h for found, _ in outcomes for h in found]
    errors = [e for _, failed in outcomes for e in failed]
    return _finish(helpers, errors)


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
        _ensure_on_path(os.path.dirname(path))
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


# ---------------------------------------------------------------------------------------------
# Loading one helper class for a worker

_modules: dict[str, tuple[tuple[int, int], types.ModuleType, dict[str, type[BaseHelper]]]] = {}
_modules_lock = threading.Lock()


def preload_module(source: str) -> None:
    """Import (and index) a helper file now so later `load_helper_class` calls are instant."""
    try:
        load_helper_class(source, "\x00")  # a name no helper can have: only the import happens
    except LookupError:
        pass


def load_helper_class(source: str, name: str) -> type[BaseHelper]:
    """The helper class called `name` in the file `source`, for a worker about to run it.

    Modules are cached by (path, mtime, size) with a name index (a file may define thousands of
    helpers): an edited file is imported afresh.
    Raises LookupError if the file or the name is not there, HelperLoadError if it fails to import.
    """
    path = os.path.abspath(os.fspath(source))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise LookupError(f"helper file not found: {path}") from None
    key = (st.st_mtime_ns, st.st_size)
    with _modules_lock:
        cached = _modules.get(path)
        if cached is not None and cached[0] == key:
            index = cached[2]
        else:
            _ensure_on_path(os.path.dirname(path))
            try:
                module = _import_file(path)
            except (Exception, SystemExit) as exc:
                raise HelperLoadError(
                    f"cannot import {path}: {_describe_import_error(exc, path)}"
                ) from exc
            if cached is not None:
                sys.modules.pop(cached[1].__name__, None)
            index = {}
            for cls in _helper_classes(module):
                found, _ = _helper_name(cls, path)
                if found is not None:
                    index.setdefault(found, cls)
            _modules[path] = (key, module, index)
    try:
        return index[name]
    except KeyError:
        raise LookupError(f"no helper named {name!r} in {path}") from None

if __name__ == "__main__":
    _child_main(sys.argv[1:])
