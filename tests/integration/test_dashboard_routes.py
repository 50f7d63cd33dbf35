"""The dashboard over HTTP against the real control plane: every security claim, attacked.

Login and sessions (the cookie is not the token, is HttpOnly, SameSite=Strict,
Secure over https, and refused when wrong, tampered, expired or made with
another token), the Content Security Policy on every answer, escaping of
everything that comes from events, and that reading the pages writes nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.support.control_plane import ControlPlane, running_control_plane

from leviathan_control_plane.dashboard import session
from leviathan_core.events import Event, EventType, new_event

PAGES = [
    "/dashboard/",
    "/dashboard/targets/radix",
    "/dashboard/attempts",
    "/dashboard/attempts?target=radix",
    "/dashboard/attempts/a1",
    "/dashboard/chart",
    "/dashboard/chart?target=radix&days=3",
]
XSS = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


def hostile_events() -> list[Event]:
    """Events whose free text is markup, and a PR whose URL would run script if linked."""

    def ev(kind: EventType, payload: dict[str, Any], **kw: Any) -> Event:
        return new_event(kind, target_id="radix", actor="t", payload=payload, **kw)

    cycle_payload = {
        "action": "skip",
        "reason": "max_open_prs",
        "messages": [IMG],
        "tasks": [{"id": "a1task", "eligible": False, "reasons": ["not_ready"], "messages": [XSS]}],
    }
    return [
        ev(EventType.TARGET_PAUSED, {"reason": XSS}),
        ev(EventType.TARGET_RESUMED, {}),
        ev(
            EventType.ATTEMPT_CREATED,
            {"attempt_number": 1, "title": XSS},
            attempt_id="a1",
            task_id="a1task",
            fence=1,
        ),
        ev(
            EventType.PR_CREATED,
            {"pr_number": 7, "pr_url": "javascript:alert(1)", "branch": IMG},
            attempt_id="a1",
            fence=1,
        ),
        ev(EventType.ATTEMPT_CREATED, {"attempt_number": 1}, attempt_id="a2", task_id="b", fence=2),
        ev(
            EventType.ATTEMPT_FAILED,
            {"reason": "engine_failed", "message": IMG},
            attempt_id="a2",
            fence=2,
        ),
        ev(EventType.SCHEDULER_CYCLE, cycle_payload),
        ev(EventType.TARGET_PAUSED, {"reason": IMG}),
    ]


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """One control plane for the module: nothing here writes to it after the fill."""
    with running_control_plane(tmp_path_factory.mktemp("cp")) as plane:
        posted = httpx.post(
            f"{plane.url}/v1/events",
            json={"events": [e.model_dump(mode="json") for e in hostile_events()]},
            headers={"Authorization": f"Bearer {plane.token}"},
        )
        assert posted.status_code == 201, posted.text
        yield plane


def bearer(cp: ControlPlane, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or cp.token}"}


def login(cp: ControlPlane, token: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{cp.url}/dashboard/login", data={"token": token}, headers=headers)


def session_cookie(cp: ControlPlane) -> str:
    answer = login(cp, cp.token)
    assert answer.status_code == 303
    return answer.cookies[session.COOKIE_NAME]


def get(cp: ControlPlane, path: str, cookie: str | None = None, **headers: str) -> httpx.Response:
    cookies = {session.COOKIE_NAME: cookie} if cookie is not None else None
    return httpx.get(f"{cp.url}{path}", headers=headers, cookies=cookies)


# ---- who gets in -----------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_without_credentials_every_page_sends_to_the_login_form(
    cp: ControlPlane, path: str
) -> None:
    answer = get(cp, path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login"
    assert XSS not in answer.text


@pytest.mark.parametrize("path", PAGES)
def test_the_bearer_token_opens_every_page(cp: ControlPlane, path: str) -> None:
    answer = get(cp, path, **bearer(cp))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "header", ["Bearer wrong-token", "Bearer", "Basic dGVzdC10b2tlbg==", "test-token", "Bearer  x"]
)
def test_a_wrong_authorization_header_is_refused(cp: ControlPlane, header: str) -> None:
    answer = get(cp, "/dashboard/", Authorization=header)
    assert answer.status_code == 401
    assert 'id="login-error"' in answer.text and "radix" not in answer.text


def test_a_wrong_header_is_refused_even_beside_a_good_cookie(cp: ControlPlane) -> None:
    cookie = session_cookie(cp)
    assert get(cp, "/dashboard/", cookie).status_code == 200
    assert get(cp, "/dashboard/", cookie, **bearer(cp, "wrong")).status_code == 401


def test_a_wrong_token_in_the_form_sets_no_cookie(cp: ControlPlane) -> None:
    for token in ("wrong", "", cp.token + "x", cp.token[:-1]):
        answer = login(cp, token)
        assert answer.status_code == 401
        assert "set-cookie" not in answer.headers
        assert "wrong token" in answer.text


def test_login_answers_with_a_session_cookie_that_is_not_the_token(cp: ControlPlane) -> None:
    answer = login(cp, cp.token)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"
    header = answer.headers["set-cookie"]
    value = answer.cookies[session.COOKIE_NAME]
    assert cp.token not in header
    assert re.fullmatch(r"v1\.[0-9]+\.[A-Za-z0-9_-]+\.[0-9a-f]{64}", value)
    attributes = {a.strip().split("=")[0].lower(): a for a in header.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].strip().lower() == "samesite=strict"
    assert attributes["path"].strip() == "Path=/dashboard"
    assert attributes["max-age"].strip() == f"Max-Age={session.LIFETIME_SECONDS}"
    assert "secure" not in attributes  # plain http here: a Secure cookie would not come back
    assert get(cp, "/dashboard/", value).status_code == 200


def test_the_cookie_is_secure_when_served_over_https(cp: ControlPlane) -> None:
    """Behind a TLS proxy on the same host (uvicorn trusts X-Forwarded-Proto from it)."""
    answer = login(cp, cp.token, **{"X-Forwarded-Proto": "https"})
    attributes = [a.strip().lower() for a in answer.headers["set-cookie"].split(";")]
    assert "secure" in attributes


def _expect_back_to_login(answer: httpx.Response) -> None:
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login?note=expired"
    dropped = answer.headers["set-cookie"]
    assert dropped.startswith(f"{session.COOKIE_NAME}=") and "Max-Age=0" in dropped


def test_a_tampered_cookie_is_refused(cp: ControlPlane) -> None:
    version, expiry, nonce, mac = session_cookie(cp).split(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    for forged in (
        f"{version}.{expiry}.{nonce}.{flipped}",
        f"{version}.{int(expiry) + 3600}.{nonce}.{mac}",
        f"{version}.{expiry}.{nonce[::-1]}.{mac}",
        f"{version}.{expiry}.{nonce}",
        cp.token,
    ):
        _expect_back_to_login(get(cp, "/dashboard/", forged))


def test_an_expired_cookie_is_refused(cp: ControlPlane) -> None:
    stale = session.issue(cp.token.encode(), time.time() - session.LIFETIME_SECONDS - 1)
    _expect_back_to_login(get(cp, "/dashboard/", stale))


def test_a_cookie_made_with_another_token_is_refused(cp: ControlPlane) -> None:
    _expect_back_to_login(get(cp, "/dashboard/", session.issue(b"other-token", time.time())))


def test_the_session_cookie_opens_no_json_route(cp: ControlPlane) -> None:
    cookie = session_cookie(cp)
    assert get(cp, "/v1/targets", cookie).status_code == 401


def test_logging_out_drops_the_cookie(cp: ControlPlane) -> None:
    answer = httpx.post(f"{cp.url}/dashboard/logout")
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    assert "Max-Age=0" in answer.headers["set-cookie"]


def test_the_login_form_echoes_nothing_from_the_request(cp: ControlPlane) -> None:
    answer = get(cp, f"/dashboard/login?note={XSS}")
    assert answer.status_code == 200 and XSS not in answer.text and "alert" not in answer.text


# ---- what every answer carries ---------------------------------------------------


def test_every_answer_forbids_remote_sources_and_script(cp: ControlPlane) -> None:
    answers = [get(cp, p, **bearer(cp)) for p in PAGES]
    answers += [
        get(cp, "/dashboard/"),
        get(cp, "/dashboard"),
        get(cp, "/dashboard/login"),
        login(cp, "wrong"),
        login(cp, cp.token),
        get(cp, "/dashboard/static/dashboard.css"),
        get(cp, "/dashboard/targets/nobody", **bearer(cp)),
        get(cp, "/dashboard/", "v1.1.x.y"),
        get(cp, "/dashboard/attempts?limit=0", **bearer(cp)),  # the app's own 422
        get(cp, "/dashboard/nothing-here", **bearer(cp)),  # and its 404
    ]
    assert [a.status_code for a in answers[-2:]] == [422, 404]
    for answer in answers:
        policy = answer.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["style-src"] == "'self'"
        assert "script-src" not in directives  # so default-src 'none' forbids every script
        assert directives["frame-ancestors"] == "'none'"
        assert directives["form-action"] == "'self'"
        assert not re.search(r"https?:|\*|data:|'unsafe", policy)
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_pages_load_nothing_from_anywhere_else(cp: ControlPlane) -> None:
    for path in PAGES:
        html = get(cp, path, **bearer(cp)).text
        assert re.findall(r'<link [^>]*href="([^"]*)"', html) == ["/dashboard/static/dashboard.css"]
        assert not re.search(r"<script|<[^>]*\ssrc=|@import", html)
    css = get(cp, "/dashboard/static/dashboard.css").text
    assert "url(" not in css and "@import" not in css and "http" not in css


# ---- escaping --------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_text_from_events_is_escaped(cp: ControlPlane, path: str) -> None:
    html = get(cp, path, **bearer(cp)).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert not re.search(r'href="\s*javascript:', html, re.IGNORECASE)


def test_hostile_texts_show_as_text_where_they_belong(cp: ControlPlane) -> None:
    target = get(cp, "/dashboard/targets/radix", **bearer(cp)).text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in target  # the title and a message
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in target  # the pause reason
    timeline = get(cp, "/dashboard/attempts/a2", **bearer(cp)).text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in timeline  # the failure message
    pull = get(cp, "/dashboard/attempts/a1", **bearer(cp)).text
    assert "PR #7" in pull and 'href="javascript' not in pull


# ---- read-only -------------------------------------------------------------------


def test_reading_every_page_writes_nothing(cp: ControlPlane) -> None:
    def log_tip() -> tuple[int, int]:
        summary = httpx.get(f"{cp.url}/v1/graph/summary", headers=bearer(cp)).json()
        return summary["events_total"], summary["targets"][0]["last_sequence"]

    before = log_tip()
    cookie = session_cookie(cp)
    for path in PAGES:
        assert get(cp, path, cookie).status_code == 200
    assert log_tip() == before


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_pages_take_no_writes(cp: ControlPlane, method: str) -> None:
    answer = httpx.request(method, f"{cp.url}/dashboard/targets/radix", headers=bearer(cp))
    assert answer.status_code == 405


def test_unknown_targets_and_attempts_are_404_pages(cp: ControlPlane) -> None:
    for path in ("/dashboard/targets/nobody", "/dashboard/attempts/nothing-here"):
        answer = get(cp, path, **bearer(cp))
        assert answer.status_code == 404 and "Not found" in answer.text


def test_the_dashboard_is_not_part_of_the_api_description(cp: ControlPlane) -> None:
    paths = httpx.get(f"{cp.url}/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/dashboard")]
