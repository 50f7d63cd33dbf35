"""The dashboard in a real browser, against a control plane filled by real cycles and workers.

Headless Chromium logs in through the form, walks every view the way a user
would (following links, not typing URLs where a link exists), compares the
numbers it reads with what the JSON API answers for the same control plane,
and writes a screenshot of each view (``$LEVIATHAN_SCREENSHOTS``, default
``.artifacts/dashboard/``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from tests.support.browser import chromium, full_page_png, screenshot_dir
from tests.support.dashboard_loop import HOSTILE_TITLE, Loop, filled_control_plane

from leviathan_core.reason_texts import FAILURE_REASONS, TASK_REASONS

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def loop(tmp_path: Path, redis_url: str) -> Iterator[Loop]:
    with filled_control_plane(tmp_path / "loop", redis_url) as filled:
        yield filled


def api(loop: Loop, path: str, **params: Any) -> Any:
    cp = loop.stack.cp
    response = httpx.get(
        f"{cp.url}{path}", params=params, headers={"Authorization": f"Bearer {cp.token}"}
    )
    response.raise_for_status()
    return response.json()


def arrive(chrome: WebDriver, url: str) -> None:
    """Wait for the navigation a click started (a form post answers with a redirect)."""
    WebDriverWait(chrome, 20).until(expected_conditions.url_to_be(url))


def words(text: str) -> str:
    """A reason text as the page shows it: its backticks become code elements."""
    return text.replace("`", "")


def value(scope: Any, name: str) -> int:
    return int(scope.find_element(By.CSS_SELECTOR, f'[data-value="{name}"]').text)


def log_in(chrome: WebDriver, base: str, token: str) -> None:
    chrome.get(f"{base}/dashboard/")
    assert chrome.current_url == f"{base}/dashboard/login", "unauthenticated: the login form"
    shots = screenshot_dir()
    full_page_png(chrome, shots / "login.png")
    chrome.find_element(By.ID, "token").send_keys("not-the-token")
    chrome.find_element(By.ID, "login").click()
    error = WebDriverWait(chrome, 20).until(
        expected_conditions.presence_of_element_located((By.ID, "login-error"))
    )
    assert error.text == "wrong token"
    assert chrome.get_cookies() == []
    chrome.find_element(By.ID, "token").send_keys(token)
    chrome.find_element(By.ID, "login").click()
    arrive(chrome, f"{base}/dashboard/")


def check_cookie(chrome: WebDriver, token: str) -> None:
    (cookie,) = chrome.get_cookies()
    assert cookie["name"] == "leviathan_dashboard"
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert token not in cookie["value"]
    # The page's own scripts could not read it (HttpOnly): document.cookie is empty.
    assert chrome.execute_script("return document.cookie") == ""


def check_targets(chrome: WebDriver, loop: Loop) -> None:
    rows = chrome.find_elements(By.CSS_SELECTOR, "table.targets tbody tr")
    assert [r.get_attribute("data-target") for r in rows] == ["orca", "radix"]
    for row in rows:
        state = api(loop, f"/v1/targets/{row.get_attribute('data-target')}/state")
        assert value(row, "running") == len(state["running_attempts"])
        assert value(row, "open_prs") == len(state["open_prs"])
        assert value(row, "consecutive_failures") == state["consecutive_failures"]
        assert value(row, "tokens_today") == state["tokens_today"]
    radix = chrome.find_element(By.CSS_SELECTOR, 'tr[data-target="radix"]')
    cycle = radix.find_element(By.CSS_SELECTOR, '[data-field="last_cycle"]').text
    assert "skip" in cycle and "max_open_prs" in cycle
    (pull,) = api(loop, "/v1/targets/radix/state")["open_prs"]
    link = radix.find_element(By.LINK_TEXT, f"PR #{pull['pr_number']}")
    assert link.get_attribute("href") == pull["pr_url"]


def check_target(chrome: WebDriver, loop: Loop) -> None:
    rows = {
        r.get_attribute("data-task"): r
        for r in chrome.find_elements(By.CSS_SELECTOR, "table.tasks tbody tr")
    }
    assert list(rows) == ["fix-links", "write-notes", "touch-source"]
    fix = rows["fix-links"]
    # The title is text: the markup shows literally and made no element.
    assert fix.find_element(By.CSS_SELECTOR, ".title").text == HOSTILE_TITLE
    assert fix.find_elements(By.CSS_SELECTOR, "script, b") == []
    assert chrome.title != "owned"
    assert "PR open" in fix.find_element(By.CSS_SELECTOR, ".state").text
    assert (
        value(fix, "attempts")
        == api(loop, "/v1/targets/radix/state")["attempts_per_task"]["fix-links"]
    )
    notes = rows["write-notes"].text
    assert "skipped" in notes and "not_ready" in notes
    assert words(TASK_REASONS["not_ready"]) in notes
    assert words(TASK_REASONS["path_out_of_scope"]) in rows["touch-source"].text


def check_attempt(chrome: WebDriver, loop: Loop) -> None:
    assert chrome.current_url.endswith(f"/dashboard/attempts/{loop.pr_attempt}")
    timeline = api(loop, f"/v1/attempts/{loop.pr_attempt}")
    shown = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, "ol.events code.type")]
    assert shown == [e["event"]["type"] for e in timeline["events"]]
    assert "pr.created" in shown and "attempt.succeeded" in shown
    assert HOSTILE_TITLE in chrome.find_element(By.CSS_SELECTOR, "ol.events").text


def check_timeline(chrome: WebDriver, loop: Loop) -> None:
    sections = chrome.find_elements(By.CSS_SELECTOR, "section.attempt")
    attempts = api(loop, "/v1/attempts")["attempts"]
    assert [s.get_attribute("data-attempt") for s in sections] == [
        a["attempt_id"] for a in attempts
    ]
    failed = chrome.find_element(By.CSS_SELECTOR, f'section[data-attempt="{loop.failed_attempt}"]')
    assert "engine_failed" in failed.text
    assert words(FAILURE_REASONS["engine_failed"][1]) in failed.text
    assert "the change command exited with status 3" in failed.text


def check_chart(chrome: WebDriver, loop: Loop) -> None:
    statuses = Counter(a["status"] for a in api(loop, "/v1/attempts")["attempts"])
    foot = chrome.find_element(By.CSS_SELECTOR, "table.days tfoot")
    assert value(foot, "succeeded") == statuses["succeeded"] == 1
    assert value(foot, "failed") == statuses["failed"] == 1
    assert value(foot, "total") == sum(statuses.values())
    bars = chrome.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    assert sorted(b.get_attribute("class") for b in bars) == ["bar failed", "bar succeeded"]


def test_a_user_logs_in_and_walks_every_view(loop: Loop, tmp_path: Path) -> None:
    base, token = loop.stack.cp.url, loop.stack.cp.token
    shots = screenshot_dir()
    with chromium(tmp_path / "profile") as chrome:
        log_in(chrome, base, token)
        check_cookie(chrome, token)
        check_targets(chrome, loop)
        full_page_png(chrome, shots / "targets.png")

        chrome.find_element(By.CSS_SELECTOR, 'tr[data-target="radix"] a.target-link').click()
        arrive(chrome, f"{base}/dashboard/targets/radix")
        check_target(chrome, loop)
        full_page_png(chrome, shots / "target.png")

        chrome.find_element(By.LINK_TEXT, "Targets").click()
        arrive(chrome, f"{base}/dashboard/")
        chrome.find_element(By.CSS_SELECTOR, 'tr[data-target="radix"] a.attempt-link').click()
        arrive(chrome, f"{base}/dashboard/attempts/{loop.pr_attempt}")
        check_attempt(chrome, loop)
        full_page_png(chrome, shots / "attempt.png")

        chrome.find_element(By.LINK_TEXT, "Timeline").click()
        arrive(chrome, f"{base}/dashboard/attempts")
        check_timeline(chrome, loop)
        full_page_png(chrome, shots / "timeline.png")

        chrome.find_element(By.LINK_TEXT, "Chart").click()
        arrive(chrome, f"{base}/dashboard/chart")
        check_chart(chrome, loop)
        full_page_png(chrome, shots / "chart.png")

        # A tampered cookie is refused: back to the login form, and the cookie is dropped.
        (cookie,) = chrome.get_cookies()
        forged = cookie["value"][:-1] + ("0" if cookie["value"][-1] != "0" else "1")
        chrome.delete_all_cookies()
        chrome.add_cookie({**cookie, "value": forged})
        chrome.get(f"{base}/dashboard/")
        assert chrome.current_url == f"{base}/dashboard/login?note=expired"
        assert chrome.get_cookies() == []

        # Logging out ends the session in this browser.
        log_in(chrome, base, token)
        chrome.find_element(By.CSS_SELECTOR, "form.logout button").click()
        arrive(chrome, f"{base}/dashboard/login")
        chrome.get(f"{base}/dashboard/chart")
        assert chrome.current_url == f"{base}/dashboard/login"
