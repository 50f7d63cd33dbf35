"""One error shape for every 4xx/5xx answer, and the handlers that produce it."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leviathan_control_plane.errors import ApiError, describe, error_items
from leviathan_control_plane.log.intake import parse_json
from leviathan_control_plane.logs import current_request_id
from leviathan_control_plane.models import ErrorBody

log = logging.getLogger("leviathan.control_plane")


class BodyTooLarge(Exception):
    """The request body grew past the cap while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class BodyRefused(ValueError):
    """The intake's refusal of a typed body, carried through pydantic to the handler.

    A ValueError, so pydantic reports it as the body's validation error (after
    the token and the path and query checks, like any body error) instead of
    letting it escape before them.
    """

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.body.detail)
        self.error = error


def validation_answer(exc: RequestValidationError) -> ApiError:
    """The answer to a request FastAPI found invalid, in the shape the routes always gave.

    Path and query parameters are reported first, as when routes read their own
    bodies; a body refused by the intake keeps its own status (400, 413, 422)
    and fields; an empty body is "not JSON", as the strict reader says.
    """
    errors = list(exc.errors())
    ahead = [err for err in errors if tuple(err.get("loc", ()))[:1] != ("body",)]
    if not ahead:
        for err in errors:
            carried = (err.get("ctx") or {}).get("error")
            if isinstance(carried, BodyRefused):
                return carried.error
            if err["type"] == "missing" and tuple(err.get("loc", ())) == ("body",):
                return _empty_body()
    items = error_items(ahead or errors, [])
    return ApiError(422, describe(items), errors=items)


def _empty_body() -> ApiError:
    try:
        parse_json(b"")
    except ApiError as exc:
        return exc
    raise AssertionError("the strict reader accepted an empty body")


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@functools.lru_cache(maxsize=256)
def _template(path: str) -> re.Pattern[str]:
    """``/v1/attempts/{attempt_id}`` as a pattern; path parameters never span a slash."""
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def allowed_methods(request: Request) -> str | None:
    """Every method the path answers to, for a 405's ``Allow`` (None: not a published path).

    Starlette answers a wrong method (OPTIONS included: there is no CORS here)
    from the first route whose path matched, so ``/v1/events`` said only
    ``POST`` though it also answers GET. The published OpenAPI paths are the
    public list of what each path answers, so the union is taken from them.
    """
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    methods = {
        method.upper()
        for template, operations in paths.items()
        if _template(template).fullmatch(request.url.path)
        for method in operations
        if method in HTTP_METHODS
    }
    return ", ".join(sorted(methods)) if methods else None


def _json(status: int, body: ErrorBody, headers: Mapping[str, str] | None = None) -> JSONResponse:
    content = body.model_dump(mode="json")
    return JSONResponse(content, status_code=status, headers=dict(headers or {}))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.body, exc.headers)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_request: Request, exc: BodyTooLarge) -> JSONResponse:
        return _json(413, ErrorBody(detail=str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        answer = validation_answer(exc)
        return _json(answer.status, answer.body, answer.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers: dict[str, Any] = dict(exc.headers or {})
        allow = allowed_methods(request) if exc.status_code == 405 else None
        if allow:
            headers["Allow"] = allow
        return _json(exc.status_code, ErrorBody(detail=str(exc.detail)), headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        detail = f"internal error (request id {current_request_id()})"
        return _json(500, ErrorBody(detail=detail))


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
    422: {"model": ErrorBody, "description": "A field is invalid; `errors` names it"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    400: {"model": ErrorBody, "description": "Body is not UTF-8 or not JSON"},
    409: {"model": ErrorBody, "description": "Conflicts with the stored log"},
    413: {"model": ErrorBody, "description": "Body or batch larger than the cap"},
}
