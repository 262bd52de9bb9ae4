"""The settings' declarations (infra/config.py) are the one source of every env var, default,
range and flag: they must be consistent with themselves, with `resolve` and with the CLI options
derived from them."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from queuectl.domain.errors import InvalidInput
from queuectl.infra.config import (
    FIELDS,
    SETTINGS,
    Setting,
    Settings,
    check,
    resolve,
)

NUMERIC = [s for s in SETTINGS if s.kind in ("int", "float")]


def ids(settings: list[Setting] | tuple[Setting, ...]) -> list[str]:
    return [s.name for s in settings]


def resolve_flags(**flags: Any) -> Settings:
    """`resolve` with flags only: no environment, no config file."""
    return resolve(flags, environ={}, file_path=None)


def test_names_are_unique_and_match_the_settings_fields() -> None:
    assert len(FIELDS) == len(SETTINGS)
    assert {f.name for f in fields(Settings)} - {"sources"} == set(FIELDS)


@pytest.mark.parametrize("spec", SETTINGS, ids=ids(SETTINGS))
def test_env_var_and_help(spec: Setting) -> None:
    """Each env var is QUEUECTL_<NAME> (REDIS_URL excepted) and each setting says what it does."""
    assert spec.env == "REDIS_URL" or spec.env.startswith("QUEUECTL_")
    if spec.env != "REDIS_URL":
        assert spec.env == "QUEUECTL_" + spec.name.upper()
    assert spec.help.strip()
    assert spec.kind in ("str", "path", "zone", "float", "int", "bool")
    assert spec.command in ("", "run", None)


def test_env_vars_are_unique() -> None:
    envs = [s.env for s in SETTINGS]
    assert len(set(envs)) == len(envs)


@pytest.mark.parametrize("spec", NUMERIC, ids=ids(NUMERIC))
def test_numeric_default_inside_its_range(spec: Setting) -> None:
    """A default outside its own range would be refused the moment someone typed it."""
    assert spec.low is not None and spec.high is not None
    assert spec.low <= spec.default <= spec.high
    assert check(spec, spec.default, "default") == spec.default


@pytest.mark.parametrize("spec", NUMERIC, ids=ids(NUMERIC))
def test_resolve_refuses_a_flag_outside_the_range(spec: Setting) -> None:
    """Just below the low end and just above the high end are refused, naming the flag."""
    assert spec.low is not None and spec.high is not None
    step = 1 if spec.kind == "int" else 0.001
    low = int(spec.low) - 1 if spec.kind == "int" else spec.low - step
    high = int(spec.high) + 1 if spec.kind == "int" else spec.high + step
    for value in (low, high):
        with pytest.raises(InvalidInput) as info:
            resolve_flags(**{spec.name: value})
        assert spec.flag in str(info.value)
    # ... while the ends themselves are accepted.
    for value in (spec.low, spec.high):
        accepted = int(value) if spec.kind == "int" else float(value)
        assert getattr(resolve_flags(**{spec.name: accepted}), spec.name) == accepted


@pytest.mark.parametrize("name", ["concurrency", "window"])
def test_resolve_refuses_a_huge_integer_flag(name: str) -> None:
    """`--concurrency 9999...` (400 digits) is out of range like any other too-big number."""
    with pytest.raises(InvalidInput):
        resolve_flags(**{name: 10**400})


@pytest.mark.parametrize("spec", NUMERIC, ids=ids(NUMERIC))
@pytest.mark.parametrize("value", ["5", "fast", True, [1], float("nan"), float("inf")])
def test_resolve_refuses_a_non_number(spec: Setting, value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_flags(**{spec.name: value})
    assert spec.flag in str(info.value)


def test_resolve_refuses_a_fractional_int() -> None:
    with pytest.raises(InvalidInput):
        resolve_flags(concurrency=2.5)


@pytest.mark.parametrize("name", ["concurency", "redis", "sources", ""])
def test_resolve_refuses_an_unknown_setting(name: str) -> None:
    """A typo in a setting name is a programming error: ValueError naming it."""
    with pytest.raises(ValueError) as info:
        resolve_flags(**{name: 1})
    assert repr(name) in str(info.value)


def test_with_defaults_equals_the_declarations() -> None:
    """With no flag, env or file, every value is its declared default (paths as Path)."""
    settings = Settings.with_defaults()
    for spec in SETTINGS:
        expected = Path(spec.default) if spec.kind == "path" and spec.default else spec.default
        assert getattr(settings, spec.name) == expected, spec.name
        assert settings.sources[spec.name] == "default"
    assert settings == resolve_flags()


def test_with_defaults_takes_values_over_them() -> None:
    settings = Settings.with_defaults(tick=0.5, concurrency=3)
    assert (settings.tick, settings.concurrency) == (0.5, 3)
    assert settings.sources["tick"] == "flag --tick"
    assert settings.window == FIELDS["window"].default


@pytest.mark.parametrize("spec", SETTINGS, ids=ids(SETTINGS))
def test_describe_names_the_env_var(spec: Setting) -> None:
    text = spec.describe()
    assert spec.env in text
    assert text.startswith(spec.help)


def test_describe_adds_range_and_default() -> None:
    text = FIELDS["concurrency"].describe()
    assert "1 to 1000" in text
    assert "default 10" in text


# -- CLI options derived from the declarations --------------------------------------------------

FLAGGED = [s for s in SETTINGS if s.command is not None]


@pytest.mark.parametrize("spec", FLAGGED, ids=ids(FLAGGED))
def test_setting_option_for_every_flagged_setting(spec: Setting) -> None:
    """Each setting with a command has an option: its flag (and short alias), and help with its env var."""
    from queuectl.cli.options import setting_option

    option = setting_option(spec.name)
    assert spec.flag in option.param_decls
    if spec.short:
        assert spec.short in option.param_decls
    assert spec.env in option.help
    assert option.default is (False if spec.kind == "bool" else None)


def test_run_and_global_options_cover_exactly_the_flagged_settings() -> None:
    """Every setting with a command is a flag of `run` or a global one in the real Typer app,
    never both, and no environment-only setting (command None) becomes a flag."""
    from typer.main import get_command

    from queuectl.cli import app

    root = get_command(app)
    flags = {s.flag: s.name for s in SETTINGS}
    global_ = [flags[o] for p in root.params for o in getattr(p, "opts", []) if o in flags]
    run = [flags[o] for p in root.commands["run"].params for o in getattr(p, "opts", []) if o in flags]  # type: ignore[attr-defined]
    assert not set(run) & set(global_)
    assert sorted(run + global_) == sorted(s.name for s in FLAGGED)
    assert len(run) + len(global_) == len(FLAGGED)
    env_only = {s.name for s in SETTINGS if s.command is None}
    assert env_only  # timezone: a guard that this test checks something
    assert not env_only & set(run + global_)
