"""The OpenAPI document: FastAPI's, with the envelope's cross-field rules added.

Request bodies come from their typed parameters (api.bodies). The envelope's
cross-field rules (which types need ``attempt_id``, which payload fields
projections read) are written into the Event schema as ``if``/``then``
clauses, so the schema describes exactly what is accepted.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from leviathan_control_plane.projections.payload import MAX_INT32, MAX_INT64
from leviathan_core.events import ATTEMPT_TYPES, CODE_PATTERN, ID_PATTERN, EventType
from leviathan_core.usage import COUNT_FIELDS, MAX_REPORT_TOKENS, MODEL_MAX_LENGTH

POSITIVE_INT = {"type": "integer", "minimum": 1, "maximum": MAX_INT32}
TEXT = {"type": "string", "minLength": 1}
TOKENS = {"type": "integer", "minimum": 0, "maximum": MAX_REPORT_TOKENS}
USAGE = {
    "type": "object",
    "required": ["model", *COUNT_FIELDS],
    "properties": {
        "model": {"type": "string", "minLength": 1, "maxLength": MODEL_MAX_LENGTH},
        **{key: TOKENS for key in COUNT_FIELDS},
    },
}


def _when(kind: EventType | list[EventType], then: dict[str, Any]) -> dict[str, Any]:
    kinds = [kind] if isinstance(kind, EventType) else kind
    condition = {
        "properties": {"type": {"enum": sorted(k.value for k in kinds)}},
        "required": ["type"],
    }
    return {"if": condition, "then": then}


def _payload(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    payload = {"type": "object", "required": required, "properties": properties}
    return {"required": ["payload"] if required else [], "properties": {"payload": payload}}


def event_rules() -> list[dict[str, Any]]:
    """Cross-field rules of leviathan_core.events.Event and the payload checks."""
    return [
        _when(
            sorted(ATTEMPT_TYPES),
            {
                "required": ["attempt_id"],
                "properties": {"attempt_id": {"type": "string", "pattern": ID_PATTERN}},
            },
        ),
        _when(
            EventType.PR_CREATED,
            _payload(
                ["pr_number", "pr_url", "branch"],
                {"pr_number": POSITIVE_INT, "pr_url": TEXT, "branch": TEXT},
            ),
        ),
        _when(EventType.PR_CLOSED, _payload(["pr_number"], {"pr_number": POSITIVE_INT})),
        _when(
            EventType.ATTEMPT_FAILED,
            _payload(
                ["reason", "message"],
                {
                    "reason": {"type": "string", "pattern": CODE_PATTERN},
                    "message": {"type": "string"},
                },
            ),
        ),
        _when(EventType.ATTEMPT_CREATED, _payload([], {"attempt_number": POSITIVE_INT})),
        _when(EventType.ATTEMPT_USAGE, _payload(["usage"], {"usage": USAGE})),
        _when(
            EventType.DASHBOARD_REQUESTED,
            _payload(
                ["action", "login", "issue_number"],
                {"action": TEXT, "login": TEXT, "issue_number": POSITIVE_INT},
            ),
        ),
        _when(
            EventType.DASHBOARD_REFUSED,
            _payload(
                ["action", "login", "reason", "message"],
                {
                    "action": TEXT,
                    "login": TEXT,
                    "reason": {"type": "string", "pattern": CODE_PATTERN},
                    "message": {"type": "string"},
                },
            ),
        ),
    ]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """Built once per app and cached (the 405 handler reads it for ``Allow``)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    event = components["Event"]
    event["allOf"] = event_rules()
    for branch in event["properties"]["fence"].get("anyOf", []):
        if branch.get("type") == "integer":
            branch["maximum"] = MAX_INT64
    app.openapi_schema = schema
    return schema
