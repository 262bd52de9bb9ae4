"""Browser-test fixtures: the headless chromium (shared by the module's tests) and a Stack.

Without /usr/bin/chromium or /usr/bin/chromedriver the tests skip with the reason, unless
QUEUECTL_REQUIRE_BROWSER=1 (CI), then they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_stack import Stack, missing_browser, start_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = missing_browser()
    if reason is not None:
        if os.environ.get("QUEUECTL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"QUEUECTL_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def stack(redis_server, client, tmp_path: Path) -> Iterator[Stack]:
    """`client` first: the test database is flushed before anything runs."""
    s = Stack(tmp_path, redis_server.url)
    try:
        yield s
    finally:
        s.close()
