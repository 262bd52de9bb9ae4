"""Docs that cannot drift: every CLI command has help text and appears in docs/cli.md; the README's
Quick start holds exactly the two set-up commands and .ci/run runs the same test command."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.main import get_command

from queuectl.cli import app

ROOT = Path(__file__).resolve().parents[2]


def walk(command, prefix=()):
    yield prefix, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, prefix + (name,))


def test_every_command_is_documented_and_has_help() -> None:
    cli_doc = (ROOT / "docs" / "cli.md").read_text()
    root = get_command(app)
    for path, command in walk(root):
        if not path:
            continue
        assert (command.help or "").strip(), f"queuectl {' '.join(path)} has no help text"
        assert f"queuectl {' '.join(path)}" in cli_doc or f"`{' '.join(path)}" in cli_doc, (
            f"queuectl {' '.join(path)} is missing from docs/cli.md"
        )


def test_quick_start_and_ci_use_the_same_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 2
    assert "queuectl run" in lines[0]
    test_command = lines[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_typer_is_not_shadowed() -> None:
    assert isinstance(app, typer.Typer)


def test_every_setting_is_in_the_configuration_reference() -> None:
    """docs/configuration.md's table names each declared setting with its variable and default."""
    from queuectl.infra.config import SETTINGS

    doc = (ROOT / "docs" / "configuration.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", doc, re.M)}
    for spec in SETTINGS:
        assert spec.name in rows, f"{spec.name} is missing from docs/configuration.md"
        cells = [c.strip() for c in rows[spec.name].strip("|").split("|")]
        assert cells[2] == f"`{spec.env}`", (spec.name, cells)
        if spec.kind in ("int", "float"):
            assert cells[3] == f"{spec.default:g}", (spec.name, cells)
        if spec.command:
            assert f"{spec.command} {spec.flag}" in cells[1], (spec.name, cells)
        elif spec.command == "":
            assert cells[1].startswith(f"`{spec.flag}`"), (spec.name, cells)
