"""The dashboard (`GET /`) in a real headless chromium, against a real `queuectl serve` and Redis.

What a person does: open the page, see the helpers and their next two hours, click a helper's
switch, type the token into the page's dialog, and watch that helper's executions leave the
timeline while the others stay; Redis must agree. Also: history with its error texts (shown as
text, never as markup), the live dispatcher, and the page surviving Redis and the server going
away and coming back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from browser_stack import TOKEN, Stack

from redis_server import RedisServer, free_port
from support import queued, wait_until

#: The page's window: marks are drawn for executions up to two hours ahead.
WINDOW = 7200

MARKS_JS = """
return Array.from(document.querySelectorAll('#timeline .mark'))
  .filter((m) => m.dataset.helper === arguments[0]).map((m) => m.dataset.executionId);
"""

PAGE_JS = """
const dialog = document.getElementById('token-dialog');
const sw = (name) => {
  const node = Array.from(document.querySelectorAll('button.switch')).find((b) => b.dataset.helper === name);
  return node ? node.getAttribute('aria-checked') : null;
};
return {
  state: document.body.dataset.state || null,
  connection: document.getElementById('connection').textContent,
  dialog_open: !dialog.hidden,
  dialog_error: document.getElementById('token-error').hidden ? '' : document.getElementById('token-error').textContent,
  helpers: Array.from(document.querySelectorAll('#helpers-body tr')).map((r) => r.dataset.helper),
  switches: Object.fromEntries(Array.from(document.querySelectorAll('button.switch'))
    .map((b) => [b.dataset.helper, b.getAttribute('aria-checked')])),
  dispatchers: Array.from(document.querySelectorAll('#dispatchers-body tr')).map((r) => r.dataset.dispatcher),
  history: Array.from(document.querySelectorAll('#history-body tr')).map((r) => ({
    id: r.dataset.executionId, status: r.dataset.status, error: r.querySelector('.err-text').textContent})),
  title: document.title,
};
"""


def marks(driver: Any, helper: str) -> list[str]:
    """The execution ids of `helper`'s marks on the timeline."""
    return list(driver.execute_script(MARKS_JS, helper))


def page(driver: Any) -> dict[str, Any]:
    return dict(driver.execute_script(PAGE_JS))


def click_switch(driver: Any, helper: str) -> None:
    from selenium.webdriver.common.by import By

    buttons = [
        b for b in driver.find_elements(By.CSS_SELECTOR, "button.switch") if b.get_attribute("data-helper") == helper
    ]
    assert buttons, f"no switch for {helper}: {page(driver)}"
    buttons[0].click()


def enter_token(driver: Any, token: str) -> None:
    """Type into the page's token dialog and submit it, as a person would."""
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, "token-input")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.ID, "token-submit").click()


def queued_within(client: Any, helper: str, seconds: float) -> set[str]:
    """`helper`'s queued executions due within `seconds` from now (the ids carry the time)."""
    horizon = time.time() + seconds
    return {i for i in queued(client, helper) if int(i.rpartition(":")[2]) <= horizon}


def test_a_click_on_the_switch_disables_a_helper_and_its_marks_leave_the_timeline(
    browser, stack: Stack, client
) -> None:
    stack.helper("alpha", {"type": "interval", "interval_minutes": 5, "priority": 2, "expiry": 60})
    stack.helper("beta", {"type": "interval", "interval_minutes": 10, "priority": 3, "expiry": 60})
    stack.qctl("helpers", "sync")
    url, _serve = stack.serve()

    browser.get(url + "/")
    drawn = wait_until(
        lambda: (marks(browser, "alpha"), marks(browser, "beta")) if page(browser)["state"] == "live" else None, 15
    )
    assert drawn, f"the page never showed its data: {page(browser)}"
    alpha, beta = drawn
    state = page(browser)
    assert state["helpers"] == ["alpha", "beta"]
    assert state["switches"] == {"alpha": "true", "beta": "true"}
    # one mark per queued execution of the next two hours (give or take the one at the edge)
    for helper, shown, least in (("alpha", alpha, 20), ("beta", beta, 10)):
        assert len(shown) == len(set(shown)) >= least, (helper, shown)
        assert set(shown) <= set(queued(client, helper)), (helper, shown)
        assert len(queued_within(client, helper, WINDOW - 5) - set(shown)) <= 1, (helper, shown)

    # the switch asks for the token in the page; a wrong one is refused there and asked again
    click_switch(browser, "alpha")
    assert wait_until(lambda: page(browser)["dialog_open"], 5), page(browser)
    enter_token(browser, "not-the-token")
    refused = wait_until(lambda: (lambda p: p["dialog_open"] and p["dialog_error"])(page(browser)), 10)
    assert refused, f"a refused token must ask again and show the server's message: {page(browser)}"
    assert set(queued(client, "alpha")) >= set(alpha), "a refused change must change nothing"

    enter_token(browser, TOKEN)
    gone = wait_until(lambda: not marks(browser, "alpha") and page(browser)["switches"].get("alpha") == "false", 10)
    assert gone, f"alpha's marks never left the timeline: {len(marks(browser, 'alpha'))} left, {page(browser)}"
    assert len(marks(browser, "beta")) >= 10, "the other helper's marks must stay"
    assert not page(browser)["dialog_open"]
    # Redis agrees: nothing of alpha queued, beta untouched, alpha disabled in the catalog
    assert queued(client, "alpha") == []
    assert set(beta) <= set(queued(client, "beta"))
    entry = json.loads(client.hget("internalAvailableHelpers", "alpha"))
    assert (entry.get("schedule") or {}).get("enabled") is False, entry
    # the token was asked once and is kept for this tab
    assert browser.execute_script("return sessionStorage.getItem('queuectl.apiToken')") == TOKEN


def test_history_dispatchers_and_outages(browser, stack: Stack, tmp_path: Path) -> None:
    own = RedisServer(root=tmp_path)  # this test stops its Redis: not the shared one
    try:
        stack.redis_url = own.url
        hostile = "<b>bold</b> & <img src=x onerror=\"document.title='pwned'\">"
        stack.helper(
            "flaky", {"type": "interval", "interval_seconds": 2, "expiry": 60}, f"raise RuntimeError({hostile!r})"
        )
        stack.helper("steady", {"type": "interval", "interval_seconds": 2, "expiry": 60})
        dispatcher = stack.run_dispatcher()
        url, serve = stack.serve()
        browser.get(url + "/")

        def finished() -> dict[str, Any] | None:
            p = page(browser)
            kinds = {(row["id"].rpartition(":")[0], row["status"]) for row in p["history"]}
            return p if {("flaky", "error"), ("steady", "success")} <= kinds and p["dispatchers"] else None

        state = wait_until(finished, 20)
        assert state, f"history or the dispatcher never showed: {page(browser)}"
        errors = [row["error"] for row in state["history"] if row["status"] == "error"]
        assert any("<b>bold</b>" in text and "onerror" in text for text in errors), errors
        assert browser.execute_script("return document.querySelectorAll('#history b, #history img').length") == 0
        assert state["title"] == "queuectl"
        live = json.loads(stack.qctl("status", "--json").stdout)["dispatchers"]
        assert state["dispatchers"] == [d["id"] for d in live]
        dispatcher.close()

        # Redis goes away: the page says so and keeps its last data; then it recovers by itself
        own.stop()
        down = wait_until(lambda: page(browser)["state"] == "redis-unreachable", 15)
        assert down, page(browser)
        assert "Redis unreachable" in page(browser)["connection"]
        assert page(browser)["helpers"] == ["flaky", "steady"]
        own.start()
        assert wait_until(lambda: page(browser)["state"] == "live", 20), page(browser)

        # the server goes away and comes back on the same port
        port = int(url.rpartition(":")[2])
        serve.close()
        assert wait_until(lambda: page(browser)["state"] == "server-unreachable", 15), page(browser)
        assert "server unreachable" in page(browser)["connection"]
        stack.serve(port)
        assert wait_until(lambda: page(browser)["state"] == "live", 20), page(browser)
        assert not page(browser)["connection"]
    finally:
        stack.close()
        own.close()


@contextmanager
def api_as_if_off_loopback(redis_url: str, helpers_dir: Path) -> Iterator[str]:
    """The real API app with the access rules of `serve --host 192.0.2.1` (reads need the token),
    served in this process on 127.0.0.1 only; its base URL."""
    import uvicorn

    from queuectl.api.app import create_app
    from queuectl.infra.app import open_app
    from queuectl.infra.config import Settings

    core = open_app(Settings.with_defaults(redis_url=redis_url, helpers_dir=helpers_dir, timezone="UTC"))
    port = free_port()
    config = uvicorn.Config(
        create_app(core, token=TOKEN, host="192.0.2.1"),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-off-loopback", daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, 15), "the API did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        core.client.close()


def test_off_loopback_the_page_asks_for_the_token_before_it_shows_anything(browser, stack: Stack) -> None:
    stack.helper("alpha", {"type": "interval", "interval_minutes": 5, "priority": 2, "expiry": 60})
    stack.qctl("helpers", "sync")
    with api_as_if_off_loopback(stack.redis_url, stack.helpers_dir) as url:
        browser.get(url + "/")
        asked = wait_until(lambda: (lambda p: p["dialog_open"] and p["dialog_error"])(page(browser)), 10)
        assert asked, f"reads answered 401 but the page did not ask for the token: {page(browser)}"
        state = page(browser)
        assert state["state"] == "token-needed" and state["helpers"] == [], state

        enter_token(browser, TOKEN)
        shown = wait_until(lambda: page(browser)["state"] == "live" and marks(browser, "alpha"), 10)
        assert shown, page(browser)
        assert page(browser)["helpers"] == ["alpha"]
        assert not page(browser)["dialog_open"]
