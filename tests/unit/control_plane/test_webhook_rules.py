"""Which GitHub deliveries queue a cycle, and the signature check (pure parts)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import fakeredis
import pytest
from kombu.exceptions import OperationalError

from leviathan_control_plane.webhooks.github import PUSH_COMMITS_LISTED, signature_valid, ticks_for
from leviathan_control_plane.webhooks.ticks import TickSender
from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import webhook_tick_key

CONFIGS = {
    "radix": AutonomyConfig(target_id="radix", target_repo_url="https://github.com/Acme/Radix.git"),
    "radix-rel": AutonomyConfig(
        target_id="radix-rel",
        target_repo_url="https://github.com/acme/radix",
        target_branch="release",
    ),
    "other": AutonomyConfig(target_id="other", target_repo_url="https://github.com/acme/other"),
}
REPO = {"full_name": "acme/radix"}


def closed(ref: str, action: str = "closed") -> dict[str, Any]:
    return {"action": action, "repository": REPO, "pull_request": {"head": {"ref": ref}}}


def push(ref: str, *files: list[str]) -> dict[str, Any]:
    commits = [{"added": [], "modified": f, "removed": []} for f in files]
    return {"ref": ref, "repository": REPO, "commits": commits}


BACKLOG = [".leviathan/backlog.yaml"]


@pytest.mark.parametrize(
    ("event", "payload", "targets", "why"),
    [
        (
            "pull_request",
            closed("agent/backlog-propose-attempt-a-1234abcd"),
            ("radix", "radix-rel"),
            "closed",
        ),
        ("pull_request", closed("agent/x", "opened"), (), "frees no slot"),
        ("pull_request", closed("feature/x"), (), "not an agent/ branch"),
        ("pull_request", {"action": "closed", "repository": REPO}, (), "not an agent/ branch"),
        ("push", push("refs/heads/main", ["docs/a.md"], BACKLOG), ("radix",), "touching"),
        ("push", push("refs/heads/release", BACKLOG), ("radix-rel",), "touching"),
        ("push", push("refs/heads/main", ["docs/a.md"]), (), "does not touch"),
        ("push", push("refs/heads/topic", BACKLOG), (), "not to a target branch"),
        (
            "push",
            push("refs/heads/main", *[["docs/a.md"]] * PUSH_COMMITS_LISTED),
            ("radix",),
            "touching",
        ),
        ("push", {"ref": "refs/heads/main", "repository": REPO}, ("radix",), "touching"),
        ("issues", {"action": "opened", "repository": REPO}, (), "does not change a decision"),
        (
            "push",
            {"ref": "refs/heads/main", "repository": {"full_name": "acme/zzz"}},
            (),
            "no target",
        ),
        ("push", {"ref": "refs/heads/main"}, (), "no target"),
    ],
)
def test_ticks_for(event: str, payload: dict[str, Any], targets: tuple[str, ...], why: str) -> None:
    verdict = ticks_for(event, payload, CONFIGS)
    assert verdict.targets == targets
    assert why in verdict.why


def test_signature_is_the_hmac_of_the_raw_body() -> None:
    body, secret = b'{"zen": "Keep it logically awesome."}', b"s3cret"
    good = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert signature_valid(secret, body, good)
    assert not signature_valid(secret, body + b" ", good)
    assert not signature_valid(b"other", body, good)
    assert not signature_valid(secret, body, good.replace("sha256=", "sha1="))
    assert not signature_valid(secret, body, None)
    assert not signature_valid(secret, body, "sha256=")


def test_a_failed_send_does_not_debounce_the_next_delivery() -> None:
    sender = TickSender("redis://127.0.0.1:1/0", debounce_seconds=30)
    sender.redis = fakeredis.FakeRedis()
    sent: list[list[Any]] = []

    def broker_down(name: str, *, args: list[Any], **_: Any) -> None:
        raise OperationalError("connection refused")

    sender.app.send_task = broker_down  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        sender.send("radix", "d-1")
    assert sender.redis.get(webhook_tick_key("radix")) is None

    sender.app.send_task = lambda name, *, args, **_: sent.append(args)  # type: ignore[method-assign]
    assert sender.send("radix", "d-2") is True
    assert sender.send("radix", "d-3") is False  # debounced by d-2
    assert sent == [["radix"]]
    assert sender.redis.get(webhook_tick_key("radix")) == b"d-2"
    sender.close()
