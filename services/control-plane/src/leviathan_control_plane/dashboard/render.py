"""Templates to responses: autoescaped Jinja2, and the headers every page carries.

Every value a page shows may come from an event body, which anyone holding the
token can write, so autoescaping is on for every template and the few filters
that produce markup escape their input first. The Content Security Policy
allows nothing but this server's own stylesheet: no script at all, no remote
font, image or frame, and forms post only here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Link targets a page may carry: web pages, and the local forge's file:// PRs.
LINK_SCHEMES: Final = frozenset({"http", "https", "file"})


def code_spans(text: str) -> Markup:
    """Escape ``text`` and show its backtick spans (as the reason texts write them) as code."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: show it as written
        return escape(text)
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )


def safe_href(url: object) -> str | None:
    """The URL when following it cannot run code here (``javascript:`` could), else None."""
    if not isinstance(url, str) or not url or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in LINK_SCHEMES else None


def when(moment: object) -> str:
    """A time as UTC text to the second; anything else as it is."""
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(moment, str):
        return moment.replace("T", " ").replace("Z", " UTC")[:23]
    return "" if moment is None else str(moment)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("leviathan_control_plane.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["code"] = code_spans
    env.filters["href"] = safe_href
    env.filters["when"] = when
    return env


_ENV: Final = environment()


class SecurityHeaders:
    """ASGI middleware: the security headers on every answer under ``prefix``.

    At this level rather than in each route, so redirects, refusals and the
    app's own error answers (a 422 for a bad query) carry them too.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + self.headers
            await send(message)

        await self.app(scope, receive, send_secured)


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render one page of the dashboard (its headers come from SecurityHeaders)."""
    html = _ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status)
