"""Typed request bodies that the one strict JSON reader decodes.

FastAPI would decode a JSON body with ``json.loads`` before a model sees it,
which lets through what the log must refuse (NaN, ``1e400``, nesting past 64
levels; see log.jsonbody) and answers bad JSON with its own error shape. So
routes built with ``StrictBodyRoute`` hand every body over as the bytes
received, whatever its Content-Type, and each body type's validator runs the
intake (log.intake) on them. The parameter is still typed with the model, so
the OpenAPI document takes the body's schema from it.

A refusal travels through pydantic as ``BodyRefused`` and is answered with the
intake's own status and fields (api.errors.validation_answer); as a body
error it comes after the token and the path and query checks, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Annotated, Any, TypeVar

from fastapi import Body, Request, Response
from fastapi.routing import APIRoute
from pydantic import PlainValidator
from typing_extensions import TypeAliasType

from leviathan_control_plane.api.errors import BodyRefused
from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.log.intake import parse_bundle, parse_events, parse_reset
from leviathan_control_plane.models import BreakerReset, Bundle, EventBatch
from leviathan_core.events import Event

T = TypeVar("T")
# Named, so the document keeps one ``EventOrBatch`` schema for the events body.
EventOrBatch = TypeAliasType("EventOrBatch", Event | EventBatch)
# The serving app's cap on events per batch or bundle, for the validators below
# (pydantic gives them the body only); set for each request by StrictBodyRoute.
_batch_cap: ContextVar[int] = ContextVar("batch_cap")


class _RawBodyRequest(Request):
    """Gives FastAPI the body bytes where it asks for decoded JSON."""

    async def json(self) -> Any:
        """The raw bytes: the body type's validator decodes them strictly."""
        return await self.body()


class StrictBodyRoute(APIRoute):
    """A route whose typed body is read by the intake, with this app's batch cap."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, run on the raw-body request with the app's batch cap set."""
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            raw = _RawBodyRequest(request.scope, request.receive)
            # Read here, not inside FastAPI's handler, which would turn the body cap's
            # BodyTooLarge (api.middleware) into a generic 400.
            await raw.body()
            token = _batch_cap.set(request.app.state.services.max_batch_events)
            try:
                return await handler(raw)
            finally:
                _batch_cap.reset(token)

        return strict


def _strict(read: Callable[[bytes], T]) -> Callable[[Any], T]:
    """A validator that runs ``read`` on the body bytes and carries its refusal."""

    def validate(value: Any) -> T:
        if not isinstance(value, bytes):  # only a StrictBodyRoute calls the validator
            raise TypeError(f"a strict body arrives as bytes, not {type(value).__name__}")
        try:
            return read(value)
        except ApiError as exc:
            raise BodyRefused(exc) from None

    return validate


def _events(raw: bytes) -> Event | EventBatch:
    events, is_batch = parse_events(raw, _batch_cap.get())
    return EventBatch.model_construct(events=events) if is_batch else events[0]


def _bundle(raw: bytes) -> Bundle:
    return parse_bundle(raw, _batch_cap.get())


EventsBody = Annotated[
    Event | EventBatch,
    PlainValidator(_strict(_events), json_schema_input_type=EventOrBatch),
    Body(),
]
BundleBody = Annotated[
    Bundle, PlainValidator(_strict(_bundle), json_schema_input_type=Bundle), Body()
]
ResetBody = Annotated[
    BreakerReset, PlainValidator(_strict(parse_reset), json_schema_input_type=BreakerReset), Body()
]
