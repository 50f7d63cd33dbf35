"""``issues`` deliveries: a box ticked in a target's dashboard issue (pure rules).

A request comes from an ``edited`` issue that carries the target's dashboard
label and marker, on the target's repository, where one of Leviathan's own
boxes (``leviathan_core.dashboard.boxes``) is ticked now and was not in the
body before the edit (``changes.body.from``). The control plane decides
nothing more: whether the sender may act is asked of GitHub by the
scheduler's task, since the control plane holds no forge client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leviathan_core.config import AutonomyConfig
from leviathan_core.dashboard import marker, newly_ticked

GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


@dataclass(frozen=True)
class ActionRequest:
    """One ticked box: what, for which target, by whom, in which issue."""

    target_id: str
    action: str
    login: str
    issue_number: int


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _labels(issue: Mapping[str, Any]) -> set[str]:
    labels = issue.get("labels")
    if not isinstance(labels, list):
        return set()
    return {str(_dict(label).get("name")) for label in labels}


def _dashboards(
    payload: Mapping[str, Any], configs: Mapping[str, AutonomyConfig]
) -> list[AutonomyConfig]:
    repository = _dict(payload.get("repository")).get("full_name")
    if not isinstance(repository, str):
        return []
    return [
        config
        for _, config in sorted(configs.items())
        if config.dashboard_issue and (config.github_repo or "").lower() == repository.lower()
    ]


def dashboard_requests(
    payload: Mapping[str, Any], configs: Mapping[str, AutonomyConfig]
) -> tuple[list[ActionRequest], str]:
    """Pure: the requests an ``issues`` delivery carries, with the reason either way."""
    if payload.get("action") != "edited":
        return [], f"issues {payload.get('action')!r} ticks no box"
    dashboards = _dashboards(payload, configs)
    if not dashboards:
        return [], "no target keeps a dashboard issue in this repository"
    issue = _dict(payload.get("issue"))
    body, number = issue.get("body"), issue.get("number")
    before = _dict(_dict(payload.get("changes")).get("body")).get("from")
    if not isinstance(body, str) or not isinstance(before, str):
        return [], "the edit did not change the body"
    if not isinstance(number, int) or isinstance(number, bool):
        return [], "the delivery names no issue number"
    login = _dict(payload.get("sender")).get("login")
    if not isinstance(login, str) or not GITHUB_LOGIN.fullmatch(login):
        return [], f"the sender {login!r} is not a GitHub login"
    requests = [
        ActionRequest(config.target_id, action.value, login, number)
        for config in dashboards
        if config.dashboard_label in _labels(issue) and marker(config.target_id) in body
        for action in newly_ticked(before, body, config.target_id)
    ]
    if not requests:
        return [], "no dashboard box was ticked"
    return requests, f"dashboard box ticked by {login}"
