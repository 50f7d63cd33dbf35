"""What the dashboard shows after a cycle, from the cycle's own readings (pure)."""

from __future__ import annotations

from leviathan_adapters.forge.base import PullRequestInfo
from leviathan_core.backlog import parse_backlog
from leviathan_core.config import parse_config
from leviathan_core.guardrails import Facts, decide
from leviathan_scheduler.dashboard import task_rows, view_of
from leviathan_scheduler.facts import Gathered

BACKLOG = b"""
tasks:
  - {id: a, title: First, ready: true, allowed_paths: [docs/a.md]}
  - {id: b, title: Reviewed, ready: true, allowed_paths: [docs/b.md]}
  - {id: c, title: Busy, ready: true, allowed_paths: [docs/c.md]}
  - {id: d, title: Old, ready: true, status: completed, allowed_paths: [docs/d.md]}
  - {id: e, title: Later, ready: "yes", allowed_paths: [docs/e.md]}
"""
CONFIG = parse_config(
    {
        "target_id": "radix",
        "target_repo_url": "https://github.com/acme/radix",
        "max_open_prs": 5,
        "max_running_attempts": 5,
    },
    "radix.yaml",
)
PR = PullRequestInfo(
    number=7,
    url="https://github.com/acme/radix/pull/7",
    branch="agent/backlog-propose-attempt-b-0123abcd",
    base="main",
    title="b",
    task_id="b",
)


def gathered(**facts: object) -> Gathered:
    values: dict[str, object] = {
        "open_pr_count": 1,
        "open_pr_task_ids": frozenset({"b"}),
        "running_count": 1,
        "running_task_ids": frozenset({"c"}),
        "attempts_per_task": {"b": 1, "c": 2},
        **facts,
    }
    backlog = parse_backlog(BACKLOG, "backlog.yaml")
    return Gathered(Facts(**values), backlog, forge_prs=(PR,))  # type: ignore[arg-type]


def test_each_task_gets_its_state_its_link_and_its_attempts() -> None:
    readings = gathered()
    assert readings.backlog is not None
    decision = decide(CONFIG, readings.backlog, readings.facts)
    assert decision.task_id == "a"
    rows = {row.task_id: row for row in task_rows(readings.backlog, readings, decision, "a")}  # type: ignore[arg-type]
    assert {k: r.state for k, r in rows.items()} == {
        "a": "running",  # dispatched by this cycle
        "b": "pr_open",
        "c": "running",
        "d": "done",
        "e": "skipped",
    }
    assert rows["a"].attempts == 1
    assert rows["b"].pr_url == PR.url
    assert rows["c"].attempts == 2
    assert rows["e"].reasons == ("not_ready",)


def test_the_view_says_why_nothing_was_dispatched_and_shows_the_breaker() -> None:
    readings = gathered(paused=True, pause_reason="freeze", consecutive_failures=2)
    decision = decide(CONFIG, readings.backlog, readings.facts)
    view = view_of(CONFIG, readings, decision, None)
    assert (view.decision, view.dispatched_task) == ("paused", None)
    assert (view.paused, view.pause_reason) == (True, "freeze")
    assert (view.breaker_open, view.consecutive_failures, view.breaker_threshold) == (True, 2, 2)
    eligible = [row.task_id for row in view.rows if row.state == "eligible"]
    assert eligible == ["a"]
