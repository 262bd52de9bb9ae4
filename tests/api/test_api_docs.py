"""docs/api.md names every path of the API's OpenAPI document (a new endpoint cannot go
undocumented)."""

from __future__ import annotations

import re
from pathlib import Path

from api_support import TOKEN

from queuectl.api.app import create_app
from queuectl.infra.app import open_app
from queuectl.infra.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_path_is_in_docs_api_md() -> None:
    never_contacted = open_app(Settings.with_defaults(redis_url="redis://127.0.0.1:1/0", helpers_dir=Path("helpers")))
    paths = create_app(never_contacted, token=TOKEN).openapi()["paths"]
    text = re.sub(r"\{[^}]*\}", "{}", DOC.read_text())  # {id} and {execution_id} alike
    missing = [p for p in paths if re.sub(r"\{[^}]*\}", "{}", p) not in text]
    assert not missing, missing
