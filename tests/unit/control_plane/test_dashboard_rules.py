"""Which ``issues`` deliveries carry a dashboard request (pure rules)."""

from __future__ import annotations

from typing import Any

from leviathan_control_plane.webhooks.dashboard import ActionRequest, dashboard_requests
from leviathan_core.config import AutonomyConfig, parse_config
from leviathan_core.dashboard import DashboardView, render


def configs(**extra: Any) -> dict[str, AutonomyConfig]:
    data = {
        "target_id": "radix",
        "target_repo_url": "https://github.com/acme/radix.git",
        "dashboard_issue": True,
        **extra,
    }
    return {"radix": parse_config(data, "radix.yaml")}


BEFORE = render(
    DashboardView(target_id="radix", attempt_cap=2, rows=(), paused=True, breaker_open=True)
)
AFTER = BEFORE.replace("- [ ] Resume", "- [x] Resume")


def delivery(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "action": "edited",
        "repository": {"full_name": "acme/radix"},
        "sender": {"login": "maintainer-1"},
        "issue": {"number": 12, "body": AFTER, "labels": [{"name": "leviathan-dashboard"}]},
        "changes": {"body": {"from": BEFORE}},
    }
    payload.update(changes)
    return payload


def test_a_newly_ticked_box_is_a_request_naming_the_sender() -> None:
    requests, why = dashboard_requests(delivery(), configs())
    assert requests == [ActionRequest("radix", "resume", "maintainer-1", 12)]
    assert why == "dashboard box ticked by maintainer-1"


def test_both_boxes_ticked_at_once_are_two_requests() -> None:
    both = AFTER.replace("- [ ] Reset", "- [x] Reset")
    issue = {"number": 12, "body": both, "labels": [{"name": "leviathan-dashboard"}]}
    requests, _ = dashboard_requests(delivery(issue=issue), configs())
    assert [r.action for r in requests] == ["resume", "reset-breaker"]


def test_deliveries_that_ask_nothing() -> None:
    cases = {
        "opened": delivery(action="opened"),
        "title only": delivery(changes={"title": {"from": "x"}}),
        "unchanged box": delivery(changes={"body": {"from": AFTER}}),
        "other repo": delivery(repository={"full_name": "acme/other"}),
        "no label": delivery(issue={"number": 12, "body": AFTER, "labels": []}),
        "bad sender": delivery(sender={"login": "x; rm -rf"}),
        "no number": delivery(issue={"body": AFTER, "labels": [{"name": "leviathan-dashboard"}]}),
    }
    for name, payload in cases.items():
        requests, why = dashboard_requests(payload, configs())
        assert requests == [], name
        assert why, name


def test_a_target_without_the_dashboard_or_with_another_label_asks_nothing() -> None:
    assert dashboard_requests(delivery(), configs(dashboard_issue=False))[0] == []
    assert dashboard_requests(delivery(), configs(dashboard_label="ops-board"))[0] == []


def test_another_targets_marker_does_not_act_for_this_one() -> None:
    other = AFTER.replace("leviathan-dashboard:radix", "leviathan-dashboard:beta")
    issue = {"number": 12, "body": other, "labels": [{"name": "leviathan-dashboard"}]}
    assert dashboard_requests(delivery(issue=issue), configs())[0] == []


def test_the_dashboard_events_payloads_are_checked_at_intake() -> None:
    from leviathan_control_plane.projections.payload import payload_problems
    from leviathan_core.events import EventType, new_event

    def problems(kind: EventType, **payload: Any) -> list[str]:
        return payload_problems(new_event(kind, target_id="radix", actor="x", payload=payload))

    good = {"action": "resume", "login": "ana", "issue_number": 3}
    assert problems(EventType.DASHBOARD_REQUESTED, **good) == []
    assert problems(EventType.DASHBOARD_REQUESTED, **{**good, "issue_number": "3"}) == [
        "payload.issue_number must be an integer from 1 to 2147483647"
    ]
    assert problems(EventType.DASHBOARD_REQUESTED, **{**good, "login": ""}) == [
        "payload.login must be a non-empty string"
    ]
    refused = {"action": "resume", "login": "ana", "reason": "permission_denied", "message": "m"}
    assert problems(EventType.DASHBOARD_REFUSED, **refused) == []
    assert problems(EventType.DASHBOARD_REFUSED, **{**refused, "reason": "Nope!"}) == [
        "payload.reason must be a reason code such as 'permission_denied'"
    ]
