"""The refusal every layer raises: an HTTP status and the one error body shape.

Kept free of FastAPI so the intake rules (log.intake) can refuse with the
exact answer the API gives, and be tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from leviathan_control_plane.models import ErrorBody, ErrorItem


class ApiError(Exception):
    """Raised by handlers and intake; rendered as ErrorBody with ``status``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[ErrorItem] | None = None,
        index: int | None = None,
        event_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.headers = status, dict(headers or {})
        self.body = ErrorBody(detail=detail, errors=errors or [], index=index, event_id=event_id)


def error_items(errors: Iterable[Mapping[str, Any]], prefix: list[str | int]) -> list[ErrorItem]:
    """Pydantic's (or FastAPI's) error dicts as ErrorItems, located under ``prefix``."""
    items = []
    for err in errors:
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        items.append(ErrorItem(loc=[*prefix, *loc], msg=str(err.get("msg")), type=err["type"]))
    return items


def describe(items: list[ErrorItem]) -> str:
    """One line a person can act on: ``body.events.3.type: Input should be ...``."""
    first = items[0]
    where = ".".join(str(p) for p in first.loc)
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return f"{where}: {first.msg}{more}"
