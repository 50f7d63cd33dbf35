"""Who may see the dashboard: a bearer token, or a session cookie made from it.

``Authorization: Bearer <token>`` works as on the JSON API (a wrong one is a
401, never a fallback to the cookie); without the header, the session cookie
must be one this server made with the current token and not yet expired.
Anything else goes back to the login form. Both comparisons run in constant
time (api.auth.tokens_match, session.is_valid).
"""

from __future__ import annotations

import time

from fastapi import Request

from leviathan_control_plane.api.auth import tokens_match
from leviathan_control_plane.dashboard import session


class LoginRequired(Exception):
    """No valid credentials: answer with the login form (``status``) or a redirect to it."""

    def __init__(self, message: str | None, *, status: int = 303, clear_cookie: bool = False):
        super().__init__(message or "log in")
        self.message = message
        self.status = status
        self.clear_cookie = clear_cookie


def expected_token(request: Request) -> bytes:
    token: bytes = request.app.state.services.token
    return token


def bearer_of(request: Request) -> str | None:
    """The credentials of an ``Authorization: Bearer`` header, None without the header."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def require_viewer(request: Request) -> None:
    """Route dependency: pass, or raise LoginRequired."""
    expected = expected_token(request)
    given = bearer_of(request)
    if given is not None:
        if given and tokens_match(given, expected):
            return
        raise LoginRequired("wrong bearer token", status=401)
    cookie = request.cookies.get(session.COOKIE_NAME)
    if cookie is None:
        raise LoginRequired(None)
    if not session.is_valid(cookie, expected, time.time()):
        raise LoginRequired("expired or not valid", clear_cookie=True)
