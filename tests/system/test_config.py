"""Settings precedence: flag > env > queuectl.toml > default, and `queuectl config` shows sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from queuectl.cli import app
from queuectl.domain.errors import InvalidInput
from queuectl.infra.config import Settings, resolve


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_precedence(tmp_path: Path) -> None:
    toml = write(tmp_path / "q.toml", 'concurrency = 4\nwindow = 600\ntick = 0.5\nhelpers_dir = "from-file"\n')
    env = {"QUEUECTL_WINDOW": "900", "QUEUECTL_TICK": "0.25"}
    s = resolve({"tick": 0.1}, environ=env, file_path=toml)
    assert s.tick == 0.1 and s.sources["tick"] == "flag --tick"
    assert s.window == 900 and s.sources["window"] == "env QUEUECTL_WINDOW"
    assert s.concurrency == 4 and s.sources["concurrency"] == f"file {toml}"
    assert s.helpers_dir == Path("from-file")
    assert s.grace == 30 and s.sources["grace"] == "default"
    assert s.redis_url is None


def test_table_form_and_errors(tmp_path: Path) -> None:
    toml = write(tmp_path / "q.toml", "[queuectl]\nconcurrency = 3\n")
    assert resolve({}, environ={}, file_path=toml).concurrency == 3
    for body, needle in [
        ("concurrency = 0\n", "out of range"),
        ("bogus = 1\n", "unknown setting 'bogus'"),
        ("window = 'x'\n", "must be a number"),
        ("concurrency = 2.5\n", "whole number"),
        ("window = [\n", "cannot read"),
    ]:
        with pytest.raises(InvalidInput, match=needle):
            resolve({}, environ={}, file_path=write(tmp_path / "bad.toml", body))
    with pytest.raises(InvalidInput, match="QUEUECTL_WINDOW"):
        resolve({}, environ={"QUEUECTL_WINDOW": "soon"}, file_path=None)


def test_config_command_masks_the_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "queuectl.toml", "concurrency = 7\n")
    runner = CliRunner()
    result = runner.invoke(app, ["--redis-url", "redis://:hunter2secret@127.0.0.1:1/0", "config", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    rows = {r["name"]: r for r in data["settings"]}
    assert rows["redis_url"]["source"] == "flag --redis-url"
    assert rows["concurrency"]["value"] == 7 and rows["concurrency"]["source"].startswith("file ")
    assert data["config_file"] == "queuectl.toml"
    human = runner.invoke(app, ["--redis-url", "redis://:hunter2secret@127.0.0.1:1/0", "config"])
    assert human.exit_code == 0 and "hunter2secret" not in human.stdout


def test_bad_config_file_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "queuectl.toml", "concurrency = -1\n")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 2
    assert "concurrency" in result.stderr and "Traceback" not in result.stderr


def test_timezone_setting_is_checked_once_where_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve({}, environ={"QUEUECTL_TIMEZONE": "Asia/Tokyo"}, file_path=None).timezone == "Asia/Tokyo"
    with pytest.raises(InvalidInput, match="QUEUECTL_TIMEZONE='Asia/Tokio' is not a time zone"):
        resolve({}, environ={"QUEUECTL_TIMEZONE": "Asia/Tokio"}, file_path=None)
    with pytest.raises(InvalidInput, match="--timezone"):
        resolve({"timezone": "../etc/passwd"}, environ={}, file_path=None)


def test_schedules_without_a_zone_follow_the_setting_else_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    from queuectl.infra.app import App

    monkeypatch.setenv("TZ", "America/Denver")
    plain = App(client=None, settings=Settings.with_defaults(redis_url="redis://127.0.0.1:1/0"))  # type: ignore[arg-type]
    assert plain.default_timezone == "America/Denver"
    tokyo = App(
        client=None,
        settings=Settings.with_defaults(
            redis_url="redis://127.0.0.1:1/0",  # type: ignore[arg-type]
            timezone="Asia/Tokyo",
        ),
    )
    assert tokyo.default_timezone == "Asia/Tokyo"


def test_every_setting_is_declared_once() -> None:
    from dataclasses import fields

    from queuectl.infra.config import FIELDS

    assert {f.name for f in fields(Settings)} - {"sources"} == set(FIELDS)
    defaults = Settings.with_defaults()
    for name, spec in FIELDS.items():
        value = getattr(defaults, name)
        assert value == (Path(spec.default) if spec.kind == "path" else spec.default), name
        assert defaults.sources[name] == "default"
