"""Time zone names: which ones a schedule may name, and the machine's own.

Kept apart from the schedule maths so settings can check a zone name without loading it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo

# Names ZoneInfo loads that are not IANA zones but machine-local aliases.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@functools.lru_cache(maxsize=1024)
def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError, IsADirectoryError, other OSError
        return False
    return True


def is_zone_name(name: object) -> bool:
    """True for an IANA name ZoneInfo loads; paths and machine-local aliases are refused."""
    if not isinstance(name, str) or not name or name != name.strip():
        return False
    if name.startswith("/") or "\\" in name or "\0" in name or ".." in name.split("/"):
        return False
    if name in _NOT_ZONES:
        return False
    return _zone_ok(name)


def zone(name: str) -> ZoneInfo:
    """ZoneInfo caches instances itself; this is only a named seam."""
    return ZoneInfo(name)


def system_timezone() -> str:
    """The machine's IANA zone name, so a schedule without a zone follows the host's wall clock."""
    return system_timezone_from(os.environ, "/etc/localtime", "/etc/timezone")


def system_timezone_from(environ: Mapping[str, str], localtime: str, timezone_file: str) -> str:
    """system_timezone with its inputs injectable, for tests."""
    tz_env = environ.get("TZ")
    if tz_env:
        name = tz_env[1:] if tz_env.startswith(":") else tz_env
        if is_zone_name(name):
            return name
    for target in _link_targets(localtime):
        marker = "/zoneinfo/"
        at = target.rfind(marker)
        if at < 0:
            continue
        name = target[at + len(marker) :]
        for prefix in ("posix/", "right/"):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        if is_zone_name(name):
            return name
    try:
        with open(timezone_file, encoding="utf-8") as handle:
            name = handle.readline().strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if is_zone_name(name):
        return name
    return "UTC"


def _link_targets(path: str) -> list[str]:
    """The symlink's own target first (it names the zone the admin chose), then the final one."""
    out: list[str] = []
    try:
        target = os.readlink(path)
    except OSError:
        return out
    if not os.path.isabs(target):
        target = os.path.join(os.path.dirname(path), target)
    out.append(os.path.normpath(target))
    out.append(os.path.realpath(path))
    return out
