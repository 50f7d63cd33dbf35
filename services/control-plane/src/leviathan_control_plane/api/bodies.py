"""Typed request bodies that the one strict JSON reader decodes, off the event loop.

FastAPI would decode a JSON body with ``json.loads`` before a model sees it,
which lets through what the log must refuse (NaN, ``1e400``, nesting past 64
levels; see log.jsonbody) and answers bad JSON with its own error shape. So
each body type names its reader (the intake, log.intake) and routes built with
``StrictBodyRoute`` run that reader themselves on the bytes received, whatever
their Content-Type. The parameter is still typed with the model, so the
OpenAPI document takes the body's schema from it.

These are the token-guarded writes (the webhook, signed instead, reads its
body itself), and the route does, in this order: the token check (api.auth;
FastAPI reads a typed body before it runs any dependency, so without this a
request with no token or a wrong one would have its body read first); reading
the body (under the cap, api.middleware); the reader, in a worker thread (a
1,000-event batch would otherwise hold the event loop); then FastAPI's own
handler, whose validator only hands over what the reader made of the body. The
``require_token`` dependency still runs there too, and puts the scheme in the
OpenAPI document.

A refusal travels through pydantic as ``BodyRefused`` and is answered with the
intake's own status and fields (api.errors.validation_answer); as a body
error it comes after the path and query checks, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Body, Request, Response
from fastapi.routing import APIRoute
from pydantic import PlainValidator
from starlette.concurrency import run_in_threadpool
from typing_extensions import TypeAliasType

from leviathan_control_plane.api.auth import authenticate
from leviathan_control_plane.api.errors import BodyRefused
from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.log.intake import parse_bundle, parse_events, parse_reset
from leviathan_control_plane.models import BreakerReset, Bundle, EventBatch
from leviathan_core.events import Event

T = TypeVar("T")
# Named, so the document keeps one ``EventOrBatch`` schema for the events body.
EventOrBatch = TypeAliasType("EventOrBatch", Event | EventBatch)


class _ReadBody(bytes):
    """The body's bytes with what the reader made of them: a value or a refusal."""

    value: Any = None
    refusal: ApiError | None = None


class _RawBodyRequest(Request):
    """Gives FastAPI the body as read (a ``_ReadBody``), where it asks for JSON too."""

    prepared: _ReadBody | None = None

    async def body(self) -> bytes:
        """The reader's result once there is one, else the bytes received."""
        return self.prepared if self.prepared is not None else await super().body()

    async def json(self) -> Any:
        """The body as read: the body type's validator takes the reader's result."""
        return await self.body()


class StrictReader(Generic[T]):
    """A body type's reader (bytes and the batch cap to a model) and its validator.

    ``StrictBodyRoute`` runs ``read`` in a worker thread (``prepare``); pydantic
    then calls this object as the body's validator, which only hands over the
    result (or raises the refusal as ``BodyRefused``).
    """

    def __init__(self, read: Callable[[bytes, int], T]) -> None:
        self.read = read

    def prepare(self, raw: bytes, batch_cap: int) -> _ReadBody:
        """Run the reader; its refusal is kept for the validator to raise."""
        prepared = _ReadBody(raw)
        try:
            prepared.value = self.read(raw, batch_cap)
        except ApiError as exc:
            prepared.refusal = exc
        return prepared

    def __call__(self, value: Any) -> T:
        if not isinstance(value, _ReadBody):  # only a StrictBodyRoute calls the validator
            raise TypeError(f"a strict body arrives read, not as {type(value).__name__}")
        if value.refusal is not None:
            raise BodyRefused(value.refusal)
        result: T = value.value
        return result


class StrictBodyRoute(APIRoute):
    """A token-guarded route whose typed body is read by the intake, off the event loop."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, run on the request once the token and the body are checked."""
        handler = super().get_route_handler()
        reader = _reader_of(self)

        async def strict(request: Request) -> Response:
            await authenticate(request)  # before any byte of the body is read
            raw = _RawBodyRequest(request.scope, request.receive)
            # Read here, not inside FastAPI's handler, which would turn the body cap's
            # BodyTooLarge (api.middleware) into a generic 400.
            body = await raw.body()
            if reader is not None and body:
                cap: int = request.app.state.services.max_batch_events
                raw.prepared = await run_in_threadpool(reader.prepare, body, cap)
            return await handler(raw)

        return strict


def _reader_of(route: APIRoute) -> StrictReader[Any] | None:
    """The reader among the route's body parameter's validators, if it has one."""
    for param in route.dependant.body_params:
        for meta in param.field_info.metadata:
            if isinstance(meta, PlainValidator) and isinstance(meta.func, StrictReader):
                return meta.func
    return None


def _events(raw: bytes, batch_cap: int) -> Event | EventBatch:
    events, is_batch = parse_events(raw, batch_cap)
    return EventBatch.model_construct(events=events) if is_batch else events[0]


def _reset(raw: bytes, _batch_cap: int) -> BreakerReset:
    return parse_reset(raw)


EventsBody = Annotated[
    Event | EventBatch,
    PlainValidator(StrictReader(_events), json_schema_input_type=EventOrBatch),
    Body(),
]
BundleBody = Annotated[
    Bundle, PlainValidator(StrictReader(parse_bundle), json_schema_input_type=Bundle), Body()
]
ResetBody = Annotated[
    BreakerReset,
    PlainValidator(StrictReader(_reset), json_schema_input_type=BreakerReset),
    Body(),
]
