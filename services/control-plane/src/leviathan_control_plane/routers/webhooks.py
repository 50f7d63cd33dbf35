"""POST /v1/webhooks/github: a signed delivery may queue a select cycle at once.

Authenticated by the delivery's HMAC signature (GitHub cannot send the bearer
token). Target files are read on every delivery, so an edited file applies
without a restart; a delivery that cannot be acted on gets a 4xx/5xx that
GitHub shows in the webhook's delivery log.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from kombu.exceptions import OperationalError
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.github_webhooks import (
    GitHubHooks,
    Verdict,
    signature_valid,
    ticks_for,
)
from leviathan_control_plane.models import ErrorBody
from leviathan_control_plane.services import Services, get_services
from leviathan_shared.config import ConfigError, load_configs

log = logging.getLogger("leviathan.control_plane")
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ServicesDep = Annotated[Services, Depends(get_services)]


class WebhookAnswer(BaseModel):
    status: Literal["pong", "queued", "ignored"]
    event: str
    delivery: str | None = None
    reason: str
    queued: list[str] = Field(default_factory=list)
    debounced: list[str] = Field(default_factory=list)


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON, or the form encoding GitHub also offers (``payload=<json>``)."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = parse_qs(body.decode("utf-8")).get("payload", [""])[0].encode()
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(422, f"the delivery is not JSON: {exc}") from None
    except RecursionError:
        raise ApiError(422, "the delivery is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(422, f"the delivery must be a JSON object, got {type(data).__name__}")
    return data


def _verdict(hooks: GitHubHooks, event: str, payload: dict[str, Any]) -> Verdict:
    try:
        configs = load_configs(hooks.config_path)
    except ConfigError as exc:
        raise ApiError(503, f"the target files do not load: {exc}") from None
    return ticks_for(event, payload, configs)


def _send(
    hooks: GitHubHooks, targets: tuple[str, ...], delivery: str
) -> tuple[list[str], list[str]]:
    queued: list[str] = []
    debounced: list[str] = []
    for target in targets:
        try:
            sent = hooks.sender.send(target, delivery)
        except (RedisError, OperationalError) as exc:
            raise ApiError(503, f"could not queue a cycle for {target}: {exc}") from None
        (queued if sent else debounced).append(target)
    return queued, debounced


@router.post(
    "/github",
    response_model=WebhookAnswer,
    status_code=202,
    responses={
        401: {"model": ErrorBody, "description": "Signature missing or wrong"},
        404: {"model": ErrorBody, "description": "Webhooks are not configured"},
        422: {"model": ErrorBody, "description": "Not a JSON object"},
        503: {"model": ErrorBody, "description": "Target files or the broker unavailable"},
    },
    summary="GitHub webhook: a closed agent/ PR or a backlog push queues a cycle now",
)
async def github_webhook(request: Request, services: ServicesDep) -> WebhookAnswer:
    hooks = services.webhooks
    if hooks is None:
        raise ApiError(
            404,
            "GitHub webhooks are off: set LEVIATHAN_GITHUB_WEBHOOK_SECRET "
            "(with LEVIATHAN_REDIS_URL and LEVIATHAN_CONFIG)",
        )
    counter = services.metrics.webhooks
    body = await request.body()
    if not signature_valid(hooks.secret, body, request.headers.get("X-Hub-Signature-256")):
        counter.labels("-", "unsigned").inc()  # the event header is not trusted yet
        raise ApiError(401, "X-Hub-Signature-256 does not match the body (check the secret)")
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery") or "unknown"
    if event == "ping":
        counter.labels(event, "pong").inc()
        return WebhookAnswer(status="pong", event=event, delivery=delivery, reason="ping")
    try:
        payload = _payload(body, request.headers.get("Content-Type", ""))
        verdict = await run_in_threadpool(_verdict, hooks, event, payload)
        if not verdict.targets:
            counter.labels(event, "ignored").inc()
            log.info("webhook %s (%s) ignored: %s", delivery, event, verdict.why)
            return WebhookAnswer(
                status="ignored", event=event, delivery=delivery, reason=verdict.why
            )
        queued, debounced = await run_in_threadpool(_send, hooks, verdict.targets, delivery)
    except ApiError:
        counter.labels(event, "failed").inc()
        raise
    counter.labels(event, "queued").inc(len(queued))
    counter.labels(event, "debounced").inc(len(debounced))
    log.info(
        "webhook %s (%s): %s; queued %s, debounced %s",
        delivery,
        event,
        verdict.why,
        queued,
        debounced,
    )
    return WebhookAnswer(
        status="queued",
        event=event,
        delivery=delivery,
        reason=verdict.why,
        queued=queued,
        debounced=debounced,
    )
