"""Settings for a queuectl process and where each value came from.

Precedence, for every setting: command-line flag > environment variable > `queuectl.toml` (in the
working directory, or the file named by QUEUECTL_CONFIG) > built-in default. The CLI tells us
which values came from flags; everything else is resolved here, so `queuectl config` can show
the effective value and its origin for each one.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from queuectl.domain.errors import InvalidInput

DEFAULT_WINDOW = 7200.0
DEFAULT_EXPAND_EVERY = 300.0
DEFAULT_TICK = 1.0
DEFAULT_CONCURRENCY = 10
DEFAULT_GRACE = 30.0
DEFAULT_HISTORY_TTL = 86400.0
DEFAULT_LEASE = 30.0

CONFIG_FILE = "queuectl.toml"


@dataclass(frozen=True)
class Field:
    name: str
    env: str
    default: Any
    kind: str  # "str" | "path" | "float" | "int" | "bool"
    low: float | None = None
    high: float | None = None
    secret: bool = False
    help: str = ""


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("redis_url", "REDIS_URL", None, "str", secret=True,
          help="Redis to use; unset = the embedded default server"),
    Field("insecure_tls", "QUEUECTL_INSECURE_TLS", False, "bool",
          help="allow rediss:// URLs that turn certificate verification off"),
    Field("helpers_dir", "QUEUECTL_HELPERS_DIR", "helpers", "path", help="directory of helper files"),
    Field("timezone", "QUEUECTL_TIMEZONE", None, "str", help="default zone for daily/cron schedules"),
    Field("window", "QUEUECTL_WINDOW", DEFAULT_WINDOW, "float", 1, 30 * 86400, help="lookahead, seconds"),
    Field("expand_every", "QUEUECTL_EXPAND_EVERY", DEFAULT_EXPAND_EVERY, "float", 0.1, 86400,
          help="seconds between window extensions"),
    Field("tick", "QUEUECTL_TICK", DEFAULT_TICK, "float", 0.01, 60, help="longest sleep between checks"),
    Field("concurrency", "QUEUECTL_CONCURRENCY", DEFAULT_CONCURRENCY, "int", 1, 1000,
          help="executions run at once"),
    Field("grace", "QUEUECTL_GRACE", DEFAULT_GRACE, "float", 0, 86400, help="shutdown grace, seconds"),
    Field("lease", "QUEUECTL_LEASE", DEFAULT_LEASE, "float", 0.5, 86400, help="claim lease, seconds"),
    Field("history_ttl", "QUEUECTL_HISTORY_TTL", DEFAULT_HISTORY_TTL, "float", 1, 365 * 86400,
          help="seconds history is kept"),
    Field("memory_limit", "QUEUECTL_MEMORY_LIMIT", 0, "int", 0, 1024 * 1024,
          help="MB of memory per helper process (0 = no cap)"),
)}


@dataclass(frozen=True, kw_only=True)
class Settings:
    redis_url: str | None = None
    insecure_tls: bool = False
    helpers_dir: Path = Path("helpers")
    timezone: str | None = None
    window: float = DEFAULT_WINDOW
    expand_every: float = DEFAULT_EXPAND_EVERY
    tick: float = DEFAULT_TICK
    concurrency: int = DEFAULT_CONCURRENCY
    grace: float = DEFAULT_GRACE
    history_ttl: float = DEFAULT_HISTORY_TTL
    lease: float = DEFAULT_LEASE
    memory_limit: int = 0
    sources: Mapping[str, str] = field(default_factory=dict)


def config_path() -> Path | None:
    """The config file in force: QUEUECTL_CONFIG (must exist), else ./queuectl.toml if present."""
    named = os.environ.get("QUEUECTL_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise InvalidInput(f"QUEUECTL_CONFIG names {path}, which is not a readable file")
        return path
    local = Path(CONFIG_FILE)
    return local if local.is_file() else None


def load_file(path: Path | None) -> dict[str, Any]:
    """Read and validate the TOML file (flat keys, or the same keys under a [queuectl] table)."""
    if path is None:
        return {}
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    if isinstance(data.get("queuectl"), dict) and len(data) == 1:
        data = data["queuectl"]
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(FIELDS)})")
    return {name: _check(FIELDS[name], value, f"{path}: {name}") for name, value in data.items()}


def _check(spec: Field, value: Any, where: str) -> Any:
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"{where} must be true or false")
        return value
    if spec.kind in ("str", "path"):
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{where} must be a non-empty string")
        return Path(value).expanduser() if spec.kind == "path" else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{where} must be a number")
    if spec.kind == "int" and (not isinstance(value, int) and not float(value).is_integer()):
        raise InvalidInput(f"{where} must be a whole number")
    number = int(value) if spec.kind == "int" else float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{where} must be finite")
    if (spec.low is not None and number < spec.low) or (spec.high is not None and number > spec.high):
        raise InvalidInput(f"{where}={value!r} is out of range ({spec.low:g}..{spec.high:g})")
    return number


def _from_env(spec: Field, text: str) -> Any:
    if spec.kind == "bool":
        if text.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if text.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise InvalidInput(f"env {spec.env}={text!r} must be 1/0, true/false, yes/no or on/off")
    if spec.kind in ("str", "path"):
        return _check(spec, text, f"env {spec.env}")
    try:
        number: Any = float(text) if spec.kind == "float" else int(text)
    except ValueError:
        raise InvalidInput(f"env {spec.env}={text!r} is not a valid {spec.kind}") from None
    return _check(spec, number, f"env {spec.env}")


def resolve(flags: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None,
            file_path: Path | None | bool = True) -> Settings:
    """Build Settings from flags (only those given on the command line), env, file and defaults."""
    flags = flags or {}
    env = os.environ if environ is None else environ
    path = config_path() if file_path is True else (file_path or None)
    from_file = load_file(path) if path else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, spec in FIELDS.items():
        if name in flags and flags[name] is not None:
            value = flags[name]
            values[name] = Path(value) if spec.kind == "path" else value
            sources[name] = "flag --" + name.replace("_", "-")
        elif env.get(spec.env):
            values[name] = _from_env(spec, env[spec.env])
            sources[name] = f"env {spec.env}"
        elif name in from_file:
            values[name] = from_file[name]
            sources[name] = f"file {path}"
        else:
            values[name] = Path(spec.default) if spec.kind == "path" and spec.default else spec.default
            sources[name] = "default"
    return Settings(**values, sources=sources)


def describe(settings: Settings, backend: str | None = None) -> list[dict[str, Any]]:
    """Rows for `queuectl config`: name, value (secrets masked), source, env var."""
    from queuectl.infra.connection import redact_url

    rows = []
    for name, spec in FIELDS.items():
        value = getattr(settings, name)
        if name == "redis_url":
            value = redact_url(value) if value else (backend or "embedded default")
        elif isinstance(value, Path):
            value = str(value)
        rows.append({"name": name, "value": value, "source": settings.sources.get(name, "default"),
                     "env": spec.env, "help": spec.help})
    return rows


def with_overrides(settings: Settings, apply: Callable[[dict[str, Any]], None]) -> Settings:
    data = {k: getattr(settings, k) for k in FIELDS}
    apply(data)
    return Settings(**data, sources=settings.sources)
