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
from leviathan_control_plane.logs import current_request_id
from leviathan_control_plane.models import ErrorBody

log = logging.getLogger("leviathan.control_plane")


class BodyTooLarge(Exception):
    """The request body grew past the cap while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


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
        items = error_items(exc.errors(), [])
        return _json(422, ErrorBody(detail=describe(items), errors=items))

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
