"""Typer options derived from the settings' declarations (infra/config.py), so a setting's flag,
range, environment variable and default are written in one place. The options default to None
("not given"): `config.resolve` then takes the environment, the file or the default, and checks
every value, a flag's included, against the same declaration."""

from __future__ import annotations

from typing import Any

import typer

from queuectl.infra.config import FIELDS


def setting_option(name: str) -> Any:
    """The option of the setting `name`: its flag (and short alias), and its help with the env
    var, range and default of its declaration."""
    spec = FIELDS[name]
    decls = [spec.flag, *([spec.short] if spec.short else [])]
    if spec.kind == "bool":
        return typer.Option(False, *decls, help=spec.describe())
    return typer.Option(None, *decls, help=spec.describe(), show_default=False)


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The settings typed on the command line: a value option not given is None, a flag not
    given is False (a flag can only turn a setting on)."""
    return {name: value for name, value in values.items() if value is not None and value is not False}
