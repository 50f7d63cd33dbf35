"""The dashboard's pages: login, targets, one target, the attempt timeline, one attempt, chart.

Every page but the login form and the stylesheet needs ``require_viewer``;
every answer carries the security headers (render.SecurityHeaders). The routes only
fetch from the read side and hand the results to the pure view models.
"""

from __future__ import annotations

import time
from importlib.resources import files
from typing import Annotated, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from leviathan_control_plane.api.auth import tokens_match
from leviathan_control_plane.api.services import Services, get_services
from leviathan_control_plane.dashboard import chart, session, views
from leviathan_control_plane.dashboard.guard import LoginRequired, expected_token, require_viewer
from leviathan_control_plane.dashboard.render import SecurityHeaders, page
from leviathan_control_plane.models import TARGET_PATTERN
from leviathan_core.events import ID_PATTERN

PREFIX: Final = "/dashboard"
LOGIN_BODY_LIMIT: Final = 8192
STYLESHEET: Final = files("leviathan_control_plane.dashboard").joinpath("static/dashboard.css")

ServicesDep = Annotated[Services, Depends(get_services)]
TargetFilter = Annotated[str | None, Query(pattern=TARGET_PATTERN)]

public = APIRouter(prefix=PREFIX, include_in_schema=False)
router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(require_viewer)])


def _redirect(location: str) -> Response:
    return RedirectResponse(location, status_code=303)


@public.get("")
def bare_prefix() -> Response:
    return _redirect(f"{PREFIX}/")


@public.get("/static/dashboard.css")
def stylesheet() -> Response:
    return Response(STYLESHEET.read_bytes(), media_type="text/css")


# Why the form is shown again, by a fixed word in its query (nothing from the request is echoed).
LOGIN_NOTES: Final = {"expired": "the session has expired or is not valid; log in again"}


@public.get("/login")
def login_form(note: Annotated[str | None, Query()] = None) -> Response:
    return page("login.html", message=LOGIN_NOTES.get(note or ""))


@public.post("/login")
async def login(request: Request) -> Response:
    """Trade the pasted token for a session cookie (never the token itself)."""
    body = await request.body()
    if len(body) > LOGIN_BODY_LIMIT:
        return page("login.html", status=413, message="the form is too large")
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    given = (fields.get("token") or [""])[0].strip()
    if not given or not tokens_match(given, expected_token(request)):
        return page("login.html", status=401, message="wrong token")
    response = _redirect(f"{PREFIX}/")
    response.set_cookie(
        session.COOKIE_NAME,
        session.issue(expected_token(request), time.time()),
        max_age=session.LIFETIME_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@public.post("/logout")
def logout() -> Response:
    response = _redirect(f"{PREFIX}/login")
    response.delete_cookie(session.COOKIE_NAME, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.get("/")
def targets_page(services: ServicesDep) -> Response:
    reader = services.reader
    infos, _ = reader.targets()
    rows = [
        views.target_row(reader.state(i.target_id), reader.last_cycle(i.target_id), i.updated_at)
        for i in infos
    ]
    return page("targets.html", rows=rows)


@router.get("/targets/{target_id}")
def target_page(
    services: ServicesDep, target_id: Annotated[str, Path(pattern=TARGET_PATTERN)]
) -> Response:
    reader = services.reader
    infos, _ = reader.targets()
    info = next((i for i in infos if i.target_id == target_id), None)
    if info is None:
        return page("missing.html", status=404, what=f"no target {target_id!r} has events")
    state, last = reader.state(target_id), reader.last_cycle(target_id)
    attempts = reader.attempts(target_id, 500, failed=False)
    return page(
        "target.html",
        row=views.target_row(state, last, info.updated_at),
        tasks=views.task_rows(state, last, reader.task_titles(target_id), attempts),
        tasks_total=last.tasks_total if last else 0,
        tasks_listed=len(last.tasks) if last else 0,
    )


@router.get("/attempts")
def timeline_page(
    services: ServicesDep,
    target: TargetFilter = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
) -> Response:
    reader = services.reader
    attempts = reader.attempts(target, limit, failed=False)
    events = reader.events_of([a.attempt_id for a in attempts])
    shown = [views.attempt_view(a, events[a.attempt_id]) for a in attempts]
    return page("timeline.html", attempts=shown, target=target, limit=limit)


@router.get("/attempts/{attempt_id}")
def attempt_page(
    services: ServicesDep, attempt_id: Annotated[str, Path(pattern=ID_PATTERN)]
) -> Response:
    found = services.reader.attempt(attempt_id)
    if found is None:
        return page("missing.html", status=404, what=f"no attempt {attempt_id!r}")
    attempt, events = found
    return page("attempt.html", view=views.attempt_view(attempt, events))


@router.get("/chart")
def chart_page(
    services: ServicesDep,
    target: TargetFilter = None,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> Response:
    outcomes = services.reader.outcomes(target, days)
    infos, _ = services.reader.targets()
    return page(
        "chart.html",
        chart=chart.build(outcomes),
        days=outcomes,
        target=target,
        span=days,
        targets=[i.target_id for i in infos],
    )


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if exc.status == 303:
        response = _redirect(f"{PREFIX}/login" + ("?note=expired" if exc.clear_cookie else ""))
    else:
        response = page("login.html", status=exc.status, message=exc.message)
    if exc.clear_cookie:
        response.delete_cookie(session.COOKIE_NAME, path=PREFIX, httponly=True, samesite="strict")
    return response


def install(app: FastAPI) -> None:
    app.include_router(public)
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_middleware(SecurityHeaders, prefix=PREFIX)
