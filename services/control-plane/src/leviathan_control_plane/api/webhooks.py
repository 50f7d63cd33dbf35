"""POST /v1/webhooks/github: a signed delivery may queue a select cycle at once,
or (``issues``, api.webhook_dashboard) a box ticked in a dashboard issue.

Authenticated by the delivery's HMAC signature (GitHub cannot send the bearer
token). Target files are read on every delivery, so an edited file applies
without a restart; a delivery that cannot be acted on gets a 4xx/5xx that
GitHub shows in the webhook's delivery log. A delivery id seen before (GitHub
redelivers with the same ``X-GitHub-Delivery``) is answered ``duplicate``
and queues nothing; one that failed is forgotten, so its redelivery acts.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from kombu.exceptions import OperationalError
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from leviathan_control_plane.api.services import Services, get_services
from leviathan_control_plane.api.webhook_dashboard import dashboard_delivery
from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.log.jsonbody import read_json
from leviathan_control_plane.models import ErrorBody
from leviathan_control_plane.webhooks.github import Verdict, signature_valid, ticks_for
from leviathan_control_plane.webhooks.ticks import GitHubHooks
from leviathan_core.config import ConfigError, load_configs

log = logging.getLogger("leviathan.control_plane")
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
DELIVERY_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")  # GitHub sends a GUID
ServicesDep = Annotated[Services, Depends(get_services)]


class WebhookAnswer(BaseModel):
    status: Literal["pong", "queued", "ignored", "duplicate"]
    event: str
    delivery: str | None = None
    reason: str
    queued: list[str] = Field(default_factory=list)
    debounced: list[str] = Field(default_factory=list)


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON (read as strictly as every other body), or the form encoding GitHub also
    offers (``payload=<json>``)."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            body = parse_qs(body.decode("utf-8")).get("payload", [""])[0].encode()
        data = read_json(body)
    except ValueError as exc:  # UnicodeDecodeError, NotJson, JsonRefused
        raise ApiError(422, f"the delivery is not usable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(422, f"the delivery must be a JSON object, got {type(data).__name__}")
    return data


def _verdict(hooks: GitHubHooks, event: str, payload: dict[str, Any]) -> Verdict:
    try:
        configs = load_configs(hooks.config_path)
    except ConfigError as exc:
        raise ApiError(503, f"the target files do not load: {exc}") from None
    return ticks_for(event, payload, configs)


def _claim(hooks: GitHubHooks, delivery: str | None) -> bool:
    """True when this delivery is new (or carries no id, so it cannot be recognised)."""
    if delivery is None:
        return True
    try:
        return hooks.sender.claim(delivery)
    except RedisError as exc:
        raise ApiError(503, f"could not record delivery {delivery}: {exc}") from None


def _release(hooks: GitHubHooks, delivery: str | None) -> None:
    if delivery is None:
        return
    try:
        hooks.sender.release(delivery)
    except RedisError as exc:  # the redelivery will be answered duplicate; say so
        log.warning("webhook %s failed and stays recorded: %s", delivery, exc)


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
        200: {"model": WebhookAnswer, "description": "This delivery was already handled"},
        401: {"model": ErrorBody, "description": "Signature missing or wrong"},
        404: {"model": ErrorBody, "description": "Webhooks are not configured"},
        422: {"model": ErrorBody, "description": "Not a JSON object, or a bad delivery id"},
        503: {"model": ErrorBody, "description": "Target files or the broker unavailable"},
    },
    summary="GitHub webhook: a closed agent/ PR or a backlog push queues a cycle now",
)
async def github_webhook(
    request: Request, response: Response, services: ServicesDep
) -> WebhookAnswer:
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
    delivery = request.headers.get("X-GitHub-Delivery")
    if event == "ping":
        counter.labels(event, "pong").inc()
        return WebhookAnswer(status="pong", event=event, delivery=delivery, reason="ping")
    if delivery is not None and not DELIVERY_ID.fullmatch(delivery):
        counter.labels(event, "failed").inc()
        raise ApiError(422, f"X-GitHub-Delivery {delivery[:120]!r} is not a delivery id")
    if not await run_in_threadpool(_claim, hooks, delivery):
        counter.labels(event, "duplicate").inc()
        response.status_code = 200
        log.info("webhook %s (%s) already handled", delivery, event)
        return WebhookAnswer(
            status="duplicate", event=event, delivery=delivery, reason="delivery already handled"
        )
    try:
        payload = _payload(body, request.headers.get("Content-Type", ""))
        if event == "issues":  # a ticked dashboard box (api.webhook_dashboard)
            targets, why = await run_in_threadpool(
                dashboard_delivery, services, hooks, payload, delivery
            )
            counter.labels(event, "queued" if targets else "ignored").inc(len(targets) or 1)
            status: Literal["queued", "ignored"] = "queued" if targets else "ignored"
            log.info("webhook %s (%s): %s; actions for %s", delivery, event, why, targets)
            return WebhookAnswer(
                status=status, event=event, delivery=delivery, reason=why, queued=targets
            )
        verdict = await run_in_threadpool(_verdict, hooks, event, payload)
        if not verdict.targets:
            counter.labels(event, "ignored").inc()
            log.info("webhook %s (%s) ignored: %s", delivery, event, verdict.why)
            return WebhookAnswer(
                status="ignored", event=event, delivery=delivery, reason=verdict.why
            )
        queued, debounced = await run_in_threadpool(_send, hooks, verdict.targets, delivery or "-")
    except Exception as exc:  # not acted on: a redelivery must be
        if isinstance(exc, ApiError):
            counter.labels(event, "failed").inc()
        await run_in_threadpool(_release, hooks, delivery)
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
