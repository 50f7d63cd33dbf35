"""Bearer-token check, in constant time, for every endpoint but health and metrics.

Routes take it as the ``require_token`` dependency (which also puts the scheme
in the OpenAPI document); a route that reads a body runs ``authenticate``
before the first byte of it is read (api.bodies), since FastAPI reads a typed
body before it runs any dependency.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leviathan_control_plane.errors import ApiError

bearer = HTTPBearer(auto_error=False, description="LEVIATHAN_CONTROL_PLANE_TOKEN")


def tokens_match(given: str, expected: bytes) -> bool:
    """Constant-time comparison (of UTF-8 bytes, so any header text is comparable)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected)


async def authenticate(request: Request) -> None:
    """``require_token`` on a request as it arrives, before its body is read."""
    require_token(request, await bearer(request))


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """The token every route but health, metrics and the signed webhook needs."""
    expected: bytes = request.app.state.services.token
    if credentials is None:
        raise ApiError(
            401,
            "missing bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not tokens_match(credentials.credentials, expected):
        raise ApiError(
            401, "wrong bearer token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
