"""No unsafe deserialisation anywhere in the package (reliability R14): no pickle, marshal,
eval/exec on data or yaml.load; Redis holds JSON and plain strings only."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "queuectl"
FORBIDDEN = re.compile(
    r"\b(import\s+pickle|from\s+pickle|pickle\.|marshal\.|yaml\.load\(|(?<![.\w])eval\(|(?<![.\w])exec\()"
)


def test_no_unsafe_deserialisation_in_the_package() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if FORBIDDEN.search(code):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert offenders == []


def test_lua_scripts_never_hard_code_key_names() -> None:
    for path in sorted((SRC / "lua").glob("*.lua")):
        text = path.read_text()
        code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
        assert "internal" not in code and "execution:" not in code, path.name


def test_key_names_live_in_keys_py_only() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "keys.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"[\"']internal[A-Z]\w*[\"']|[\"']execution:", code):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert offenders == []
