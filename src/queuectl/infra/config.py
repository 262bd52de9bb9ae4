"""Settings for a queuectl process, each declared once, and where each value came from.

Every setting is one `Setting` in SETTINGS: its name, environment variable, default, range and
help. The CLI derives its options from these declarations (cli/options.py), `resolve` reads the
environment and the file and checks every value against them, and the dispatcher takes the
resolved `Settings`. Precedence, for every setting: command-line flag > environment variable >
`queuectl.toml` (in the working directory, or the file named by QUEUECTL_CONFIG) > default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queuectl.domain.errors import InvalidInput

CONFIG_FILE = "queuectl.toml"


@dataclass(frozen=True)
class Setting:
    """One setting: the only place its env var, default, range and help are written."""

    name: str
    env: str
    default: Any
    kind: str  # "str" | "path" | "zone" | "float" | "int" | "bool"
    help: str
    low: float | None = None
    high: float | None = None
    secret: bool = False
    #: the command that takes it as a flag: "" for the global options, "run" for run's, None
    #: for none (environment and file only)
    command: str | None = "run"
    #: a short alias of the flag, e.g. "-c"
    short: str | None = None
    #: the values a "str" setting may take (None: any non-empty string)
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """The help text with what the declaration adds: env var, range and default."""
        facts = [f"env {self.env}"]
        if self.low is not None and self.high is not None:
            facts.append(f"{_number(self.low)} to {_number(self.high)}")
        if self.choices:
            facts.append(" or ".join(self.choices))
        if self.default not in (None, False):
            facts.append(f"default {_number(self.default) if self.kind in ('int', 'float') else self.default}")
        return f"{self.help} ({'; '.join(facts)})"


def _number(value: float | None) -> str:
    """7200.0 as '7200', 0.1 as '0.1', 2592000.0 as '2592000'."""
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "redis_url",
        "REDIS_URL",
        None,
        "str",
        secret=True,
        command="",
        help="Redis to use: redis://[:password@]host:port/db, rediss://..., unix:///path.sock, "
        "redis+sentinel://host:port/service; unset, the embedded default server.",
    ),
    Setting(
        "insecure_tls",
        "QUEUECTL_INSECURE_TLS",
        False,
        "bool",
        command="",
        help="Allow rediss:// URLs that turn certificate verification off (logs a warning).",
    ),
    Setting(
        "helpers_dir", "QUEUECTL_HELPERS_DIR", "helpers", "path", command="", help="Directory of helper files (*.py)."
    ),
    Setting(
        "timezone",
        "QUEUECTL_TIMEZONE",
        None,
        "zone",
        command=None,
        help="Default IANA zone of daily and cron schedules that name none; unset, the system's.",
    ),
    Setting(
        "window",
        "QUEUECTL_WINDOW",
        7200.0,
        "float",
        low=1,
        high=30 * 86400,
        help="Lookahead in seconds: every occurrence this far ahead is queued.",
    ),
    Setting(
        "expand_every",
        "QUEUECTL_EXPAND_EVERY",
        300.0,
        "float",
        low=0.1,
        high=86400,
        help="Seconds between window extensions (and helper rescans).",
    ),
    Setting(
        "tick",
        "QUEUECTL_TICK",
        1.0,
        "float",
        low=0.01,
        high=60,
        help="Longest sleep in seconds between checks for changes by other processes.",
    ),
    Setting(
        "concurrency",
        "QUEUECTL_CONCURRENCY",
        10,
        "int",
        low=1,
        high=1000,
        short="-c",
        help="Executions run at once (worker processes).",
    ),
    Setting(
        "grace",
        "QUEUECTL_GRACE",
        30.0,
        "float",
        low=0,
        high=86400,
        help="On SIGINT/SIGTERM, seconds to let running executions finish.",
    ),
    Setting(
        "lease",
        "QUEUECTL_LEASE",
        30.0,
        "float",
        low=0.5,
        high=86400,
        help="Seconds a claim lives without renewal (renewed every lease/3).",
    ),
    Setting(
        "history_ttl",
        "QUEUECTL_HISTORY_TTL",
        86400.0,
        "float",
        low=1,
        high=365 * 86400,
        help="Seconds finished executions are kept in history.",
    ),
    Setting(
        "compact_queue",
        "QUEUECTL_COMPACT_QUEUE",
        False,
        "bool",
        command=None,
        help="Plan queued executions as queue entries alone, their execution:{id} hash written at the claim: "
        "about a third of the memory, but redis-cli HGETALL shows nothing for a queued execution.",
    ),
    Setting(
        "memory_limit",
        "QUEUECTL_MEMORY_LIMIT",
        0,
        "int",
        low=0,
        high=1024 * 1024,
        help="MB of memory per helper process; a helper past it fails with MemoryError (reason memory). 0 = no cap.",
    ),
    Setting(
        "log_format",
        "QUEUECTL_LOG_FORMAT",
        "text",
        "str",
        choices=("text", "json"),
        help="Log lines on stderr: text (prefixed lines for people) or json (one JSON object per line).",
    ),
)
FIELDS: dict[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The values in force. No defaults here: they are the declarations' (`with_defaults`)."""

    redis_url: str | None
    insecure_tls: bool
    helpers_dir: Path
    timezone: str | None
    window: float
    expand_every: float
    tick: float
    concurrency: int
    grace: float
    lease: float
    history_ttl: float
    memory_limit: int
    compact_queue: bool
    log_format: str
    #: setting name -> where its value came from ("flag --tick", "env QUEUECTL_TICK", ...)
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def with_defaults(cls, **values: Any) -> Settings:
        """The declared defaults with `values` over them (checked like flags); no env, no file."""
        return resolve(values, environ={}, file_path=None)


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
    return {name: check(FIELDS[name], value, f"{path}: {name}") for name, value in data.items()}


def check(spec: Setting, value: Any, where: str) -> Any:
    """`value` as the setting's type, or InvalidInput naming `where` it came from."""
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"{where} must be true or false")
        return value
    if spec.kind in ("str", "path", "zone"):
        if isinstance(value, Path):
            value = str(value)
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{where} must be a non-empty string")
        if spec.choices is not None and value not in spec.choices:
            raise InvalidInput(f"{where}={value!r} is not one of {', '.join(spec.choices)}")
        if spec.kind == "zone":
            from queuectl.domain.zones import is_zone_name

            if not is_zone_name(value):
                raise InvalidInput(f"{where}={value!r} is not a time zone (use an IANA name such as Europe/Berlin)")
        return Path(value).expanduser() if spec.kind == "path" else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{where} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{where} must be finite")
    if spec.kind == "int" and isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"{where} must be a whole number")
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        raise InvalidInput(f"{where}={value!r} is out of range ({_number(spec.low)} to {_number(spec.high)})")
    return int(value) if spec.kind == "int" else float(value)


def _from_env(spec: Setting, text: str) -> Any:
    where = f"env {spec.env}"
    if spec.kind == "bool":
        if text.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if text.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise InvalidInput(f"{where}={text!r} must be 1/0, true/false, yes/no or on/off")
    if spec.kind in ("str", "path", "zone"):
        return check(spec, text, where)
    try:
        number: Any = float(text) if spec.kind == "float" else int(text)
    except ValueError:
        raise InvalidInput(f"{where}={text!r} is not a valid {spec.kind}") from None
    return check(spec, number, where)


def resolve(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    file_path: Path | None | bool = True,
) -> Settings:
    """Settings from flags (only those given on the command line), env, file and defaults, every
    value checked against its declaration once, whatever its source."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    unknown = sorted(set(flags) - set(FIELDS))
    if unknown:
        raise ValueError(f"not a setting: {unknown[0]!r}")
    env = os.environ if environ is None else environ
    path = config_path() if file_path is True else (file_path or None)
    from_file = load_file(path) if path else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, spec in FIELDS.items():
        if name in flags:
            values[name] = check(spec, flags[name], spec.flag)
            sources[name] = f"flag {spec.flag}"
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
        rows.append(
            {
                "name": name,
                "value": value,
                "source": settings.sources.get(name, "default"),
                "env": spec.env,
                "help": spec.help,
            }
        )
    return rows
