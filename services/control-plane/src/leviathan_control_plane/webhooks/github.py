"""GitHub webhooks that start a select cycle at once instead of at the next cron tick.

Two deliveries change what a cycle would decide: an ``agent/`` pull request
closed or merged (a PR slot frees up) and a push to the target branch that
touches ``.leviathan/backlog.yaml``. Everything else is acknowledged and
ignored. A webhook only moves a tick earlier: the cycle it queues is the same
task beat sends, with every guardrail, and a lost webhook costs nothing but
the wait for the cron tick.

The decision (``ticks_for``) is pure and lives here; ``webhooks.ticks`` does
the Redis and broker I/O: one debounce key per target so a burst of
deliveries queues one cycle.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leviathan_core.config import AutonomyConfig
from leviathan_core.constants import BACKLOG_PATH, BRANCH_PREFIX

SIGNATURE_PREFIX = "sha256="
# GitHub lists at most this many commits (with their files) in a push payload.
PUSH_COMMITS_LISTED = 20


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body (constant-time check)."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len(SIGNATURE_PREFIX) :].encode(), expected.encode())


@dataclass(frozen=True)
class Verdict:
    """Which targets to tick, or why the delivery changes nothing."""

    targets: tuple[str, ...] = ()
    why: str = ""


def _repository(payload: Mapping[str, Any]) -> str | None:
    repository = payload.get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) else None


def _targets_of(payload: Mapping[str, Any], configs: Mapping[str, AutonomyConfig]) -> list[str]:
    """Targets whose ``target_repo_url`` names the delivery's ``owner/name``."""
    name = _repository(payload)
    if name is None:
        return []
    return sorted(
        target_id
        for target_id, config in configs.items()
        if (config.github_repo or "").lower() == name.lower()
    )


def _touches_backlog(payload: Mapping[str, Any]) -> bool:
    """True when a listed commit touched the backlog, or the list may be incomplete."""
    commits = payload.get("commits")
    if not isinstance(commits, list) or len(commits) >= PUSH_COMMITS_LISTED:
        return True
    for commit in commits:
        if not isinstance(commit, dict):
            return True
        for key in ("added", "modified", "removed"):
            paths = commit.get(key)
            if not isinstance(paths, list):
                return True
            if BACKLOG_PATH in paths:
                return True
    return False


def ticks_for(
    event: str, payload: Mapping[str, Any], configs: Mapping[str, AutonomyConfig]
) -> Verdict:
    """Pure: the targets a delivery should tick now, with the reason either way."""
    targets = _targets_of(payload, configs)
    if not targets:
        return Verdict(why=f"no target watches repository {_repository(payload)!r}")
    if event == "pull_request":
        pull = payload.get("pull_request")
        head = pull.get("head") if isinstance(pull, dict) else None
        ref = head.get("ref") if isinstance(head, dict) else None
        if payload.get("action") != "closed":
            return Verdict(why=f"pull_request {payload.get('action')!r} frees no slot")
        if not isinstance(ref, str) or not ref.startswith(BRANCH_PREFIX):
            return Verdict(why=f"pull request branch {ref!r} is not an {BRANCH_PREFIX} branch")
        return Verdict(tuple(targets), f"{BRANCH_PREFIX} pull request closed")
    if event == "push":
        ref = payload.get("ref")
        hit = [t for t in targets if ref == f"refs/heads/{configs[t].target_branch}"]
        if not hit:
            return Verdict(why=f"push to {ref!r}, not to a target branch")
        if not _touches_backlog(payload):
            return Verdict(why=f"push does not touch {BACKLOG_PATH}")
        return Verdict(tuple(hit), f"push touching {BACKLOG_PATH}")
    return Verdict(why=f"event {event!r} does not change a decision")
