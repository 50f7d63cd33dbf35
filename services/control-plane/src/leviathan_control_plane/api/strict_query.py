"""Unknown query parameters are refused, so a typo (``target_id=`` for ``target=``)
is a clear 422 instead of a silently unfiltered answer."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.models import ErrorItem

_allowed: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _names(route: APIRoute) -> frozenset[str]:
    known = _allowed.get(id(route))
    if known is None:
        known = _allowed[id(route)] = frozenset(_query_names(route.dependant))
    return known


def reject_unknown_query(request: Request) -> None:
    """Router dependency: a 422 naming the first query parameter the route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _names(route)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
        raise ApiError(
            422,
            f"unknown query parameter {unknown[0]!r}{hint}",
            errors=[
                ErrorItem(
                    loc=["query", unknown[0]], msg="unknown query parameter", type="extra_forbidden"
                )
            ],
        )
