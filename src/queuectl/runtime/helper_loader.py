"""Helper files are imported by path, and their helper classes found, here: for discovery (in a
child process) and for the workers that run them.

Files are imported under a synthetic module name, so a helper called json.py or redis.py can never
shadow the real module, and compiled from source every time, so no __pycache__ lands in the
helpers directory and a file rewritten twice in one second is never run stale.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import itertools
import os
import re
import sys
import threading
import types
import unicodedata
from collections.abc import Iterator

from queuectl.domain.errors import HelperLoadError
from queuectl.domain.keys import NAME_RE
from queuectl.helper import BaseHelper

_PACKAGE = "queuectl_helpers"  # parent of every synthetic helper module name
_MAX_REASON = 300


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


def import_file(path: str) -> types.ModuleType:
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


def ensure_on_path(directory: str) -> None:
    """Let helpers import sibling modules; appended, so stdlib and site packages still win."""
    if directory not in sys.path:
        sys.path.append(directory)


def one_line(text: str) -> str:
    """Control characters out, whitespace collapsed, at most 300 characters."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def describe(exc: BaseException) -> str:
    """'ExcType: message' (or just 'ExcType' when there is no message)."""
    message = str(exc.code) if isinstance(exc, SystemExit) else str(exc)
    kind = type(exc).__name__
    return f"{kind}: {message}" if message else kind


def describe_import_error(exc: BaseException, path: str) -> str:
    """One line for a file that failed to import, in the form the CLI shows."""
    if isinstance(exc, SyntaxError):
        where = f"line {exc.lineno}"
        if exc.filename and os.path.abspath(exc.filename) != path:
            where = f"{exc.filename}, {where}"  # the error is in a module the helper imports
        return one_line(f"{type(exc).__name__}: {exc.msg} ({where})")
    if isinstance(exc, ImportError):
        return one_line(describe(exc))
    return one_line(f"{describe(exc)} at import")


# ---------------------------------------------------------------------------------------------
# Finding helper classes in a module


def _descendants(cls: type) -> Iterator[type]:
    """Every subclass of `cls`, depth first, each once."""
    seen: set[int] = set()
    stack: list[type] = list(reversed(type.__subclasses__(cls)))
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


def helper_classes(module: types.ModuleType) -> list[type[BaseHelper]]:
    """Helper classes of `module`: its globals in order, then any made with type() elsewhere
    in it (kept in a list, say), found through BaseHelper's subclass tree."""
    found: list[type[BaseHelper]] = []
    seen: set[int] = set()
    for obj in list(vars(module).values()):
        if id(obj) not in seen and _is_helper_class(obj, module.__name__):
            seen.add(id(obj))
            found.append(obj)
    for sub in _descendants(BaseHelper):
        if id(sub) not in seen and _is_helper_class(sub, module.__name__):
            seen.add(id(sub))
            found.append(sub)
    return found


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def helper_name(cls: type[BaseHelper], path: str) -> tuple[str | None, str | None]:
    """(name, None) or (None, reason the class's name is refused)."""
    explicit = getattr(cls, "name", None)
    if explicit is None:
        name = stem(path)
    elif isinstance(explicit, str):
        name = explicit
    else:
        return None, one_line(f"helper name in class {cls.__qualname__} must be a str, got {type(explicit).__name__}")
    if not NAME_RE.fullmatch(name):
        return None, one_line(
            f"helper name {name!r} in class {cls.__qualname__}: must match [A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}"
        )
    return name, None


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
            ensure_on_path(os.path.dirname(path))
            try:
                module = import_file(path)
            except (Exception, SystemExit) as exc:
                raise HelperLoadError(f"cannot import {path}: {describe_import_error(exc, path)}") from exc
            if cached is not None:
                sys.modules.pop(cached[1].__name__, None)
            index = {}
            for cls in helper_classes(module):
                found, _ = helper_name(cls, path)
                if found is not None:
                    index.setdefault(found, cls)
            _modules[path] = (key, module, index)
    try:
        return index[name]
    except KeyError:
        raise LookupError(f"no helper named {name!r} in {path}") from None
