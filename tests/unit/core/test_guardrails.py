"""decide(): every cycle and task reason code, their order, and the selection rule."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leviathan_core.backlog import Backlog, BacklogError, parse_backlog, parse_task
from leviathan_core.config import AutonomyConfig
from leviathan_core.guardrails import CycleReason, Facts, decide
from leviathan_core.scope import plan_violations
from leviathan_core.verdicts import StaticRules, TaskReason, static_verdict

BASE: dict[str, Any] = {"target_id": "radix", "target_repo_url": "https://github.com/o/radix.git"}


def cfg(**overrides: Any) -> AutonomyConfig:
    return AutonomyConfig.model_validate({**BASE, **overrides})


def backlog(*tasks: str) -> Backlog:
    return parse_backlog("tasks:\n" + "".join(tasks))


def task(tid: str, extra: str = "", paths: str = "[docs/a.md]", ready: str = "true") -> str:
    return (
        f"  - id: {tid}\n    title: {tid}\n    ready: {ready}\n    allowed_paths: {paths}\n{extra}"
    )


GOOD = backlog(task("good"))


@pytest.mark.parametrize(
    ("config", "facts", "reason"),
    [
        (cfg(autonomy_enabled=False), Facts(), CycleReason.DISABLED),
        (cfg(), Facts(paused=True, pause_reason="deploy"), CycleReason.PAUSED),
        (cfg(), Facts(consecutive_failures=2), CycleReason.BREAKER_OPEN),
        (cfg(circuit_breaker_failures=3), Facts(consecutive_failures=2), None),
        (cfg(), Facts(unavailable=("forge",)), "fact_unavailable:forge"),
        (cfg(), Facts(unavailable=("control_plane", "redis")), "fact_unavailable:control_plane"),
        (cfg(), Facts(unavailable=("redis",)), "fact_unavailable:redis"),
        (cfg(), Facts(open_pr_count=1), CycleReason.MAX_OPEN_PRS),
        (cfg(max_open_prs=2), Facts(open_pr_count=1), None),
        (cfg(), Facts(running_count=1), CycleReason.MAX_RUNNING_ATTEMPTS),
        (cfg(max_running_attempts=0), Facts(), CycleReason.MAX_RUNNING_ATTEMPTS),
    ],
)
def test_cycle_reasons(config: AutonomyConfig, facts: Facts, reason: str | None) -> None:
    decision = decide(config, GOOD, facts)
    assert decision.reason == reason
    assert decision.action == ("dispatch" if reason is None else "skip")
    assert (decision.task_id == "good") is (reason is None)


def test_cycle_reason_order_first_applicable_wins() -> None:
    everything = Facts(
        paused=True,
        consecutive_failures=2,
        open_pr_count=9,
        running_count=9,
        unavailable=("forge",),
    )
    order = [
        (cfg(autonomy_enabled=False), everything, "disabled"),
        (cfg(), everything, "paused"),
        (
            cfg(),
            Facts(consecutive_failures=2, open_pr_count=9, unavailable=("forge",)),
            "breaker_open",
        ),
        (
            cfg(),
            Facts(open_pr_count=9, running_count=9, unavailable=("redis",)),
            "fact_unavailable:redis",
        ),
        (cfg(), Facts(open_pr_count=9, running_count=9), "max_open_prs"),
    ]
    for config, facts, reason in order:
        assert decide(config, BacklogError("bad"), facts).reason == reason
    assert decide(cfg(), BacklogError("x: bad"), Facts(running_count=9)).reason == (
        "max_running_attempts"
    )
    invalid = decide(cfg(), BacklogError("x: bad"), Facts())
    assert invalid.reason == CycleReason.BACKLOG_INVALID
    assert invalid.messages == ("x: bad",)


def test_unreadable_backlog_is_a_fact_unavailable() -> None:
    assert decide(cfg(), None, Facts()).reason == "fact_unavailable:backlog"


def test_no_eligible_task() -> None:
    decision = decide(cfg(), backlog(task("a", ready="false")), Facts())
    assert decision.reason == CycleReason.NO_ELIGIBLE_TASK
    assert decision.tasks[0].reasons == (TaskReason.NOT_READY,)


@pytest.mark.parametrize(
    ("entry", "facts", "config", "reasons"),
    [
        (task("a", ready="false"), Facts(), cfg(), ["not_ready"]),
        (task("a", ready="'true'"), Facts(), cfg(), ["not_ready"]),
        (task("a", ready="1"), Facts(), cfg(), ["not_ready"]),
        (task("a", "    status: completed\n"), Facts(), cfg(), ["status_not_pending"]),
        (task("a", "    status: Pending\n"), Facts(), cfg(), ["status_not_pending"]),
        (task("a", "    status: in_progress\n"), Facts(), cfg(), ["status_not_pending"]),
        (task("a", "    status: pending\n"), Facts(), cfg(), []),
        (task("a", "    status: null\n"), Facts(), cfg(), []),
        (task("a", "    dependencies: [x]\n"), Facts(), cfg(), ["has_dependencies"]),
        (task("a", "    dependencies: []\n"), Facts(), cfg(), []),
        (
            task("a", "    dependencies: [x]\n"),
            Facts(),
            cfg(allow_completed_dependencies=True),
            ["dependencies_not_completed"],
        ),
        (task("a", paths="[]"), Facts(), cfg(), ["no_allowed_paths"]),
        (task("a", paths="null"), Facts(), cfg(), ["no_allowed_paths"]),
        (task("a", paths="[src/a.py]"), Facts(), cfg(), ["path_out_of_scope"]),
        (task("a", paths="[docsx/a.md]"), Facts(), cfg(), ["path_out_of_scope"]),
        (task("a", paths="['../docs/a.md']"), Facts(), cfg(), ["path_out_of_scope"]),
        (task("a", paths="[/docs/a.md]"), Facts(), cfg(), ["path_out_of_scope"]),
        (task("a", paths="[docs/a.md, src/b.py]"), Facts(), cfg(), ["path_out_of_scope"]),
        (task("a", paths="[src/a.py]"), Facts(), cfg(allowed_path_prefixes=["src"]), []),
        (task("a", paths="[docs]"), Facts(), cfg(), []),
        (task("a", paths="[docs/]"), Facts(), cfg(), []),
        (task("a", paths="[./docs//a.md]"), Facts(), cfg(), []),
        (task("a", paths="[docs/../src/a.py]"), Facts(), cfg(), ["path_out_of_scope"]),
        (task("a", paths="[docsx]"), Facts(), cfg(), ["path_out_of_scope"]),
        (task("a", paths="[Docs/a.md]"), Facts(), cfg(), ["path_out_of_scope"]),
        (
            task("a", paths="[docsx/a.md]"),
            Facts(),
            cfg(allowed_path_prefixes=["docs"]),
            ["path_out_of_scope"],
        ),
        (task("a"), Facts(attempts_per_task={"a": 2}), cfg(), ["attempts_exhausted"]),
        (task("a"), Facts(attempts_per_task={"a": 1}), cfg(), []),
        (
            task("a"),
            Facts(open_pr_task_ids=frozenset({"a"}), open_pr_count=0),
            cfg(max_open_prs=5),
            ["open_pr_exists"],
        ),
        (
            task("a"),
            Facts(running_task_ids=frozenset({"a"})),
            cfg(max_running_attempts=3),
            ["attempt_running"],
        ),
        (task("a", paths="docs/a.md"), Facts(), cfg(), ["invalid_task"]),
        (task("a", paths="[3]"), Facts(), cfg(), ["invalid_task"]),
        ("  - id: NOPE\n    title: x\n", Facts(), cfg(), ["invalid_task"]),
        (
            task("a", "    status: done\n", ready="false"),
            Facts(attempts_per_task={"a": 5}),
            cfg(),
            ["not_ready", "status_not_pending", "attempts_exhausted"],
        ),
    ],
)
def test_task_reasons(entry: str, facts: Facts, config: AutonomyConfig, reasons: list[str]) -> None:
    decision = decide(config, backlog(entry), facts)
    verdict = decision.tasks[0]
    assert list(verdict.reasons) == reasons
    assert verdict.eligible is (not reasons)


def test_dependencies_completed_allows_task_when_switched_on() -> None:
    tasks = backlog(task("dep", "    status: completed\n"), task("a", "    dependencies: [dep]\n"))
    assert decide(cfg(), tasks, Facts()).reason == "no_eligible_task"
    decision = decide(cfg(allow_completed_dependencies=True), tasks, Facts())
    assert decision.task_id == "a"


def test_missing_dependency_is_not_completed() -> None:
    tasks = backlog(task("a", "    dependencies: [ghost]\n"))
    decision = decide(cfg(allow_completed_dependencies=True), tasks, Facts())
    assert decision.tasks[0].reasons == ("dependencies_not_completed",)
    assert "ghost" in decision.tasks[0].messages[0]


def test_first_eligible_in_file_order_with_attempt_number() -> None:
    tasks = backlog(task("a", ready="false"), task("b"), task("c"))
    decision = decide(cfg(), tasks, Facts(attempts_per_task={"b": 1}))
    assert (decision.task_id, decision.attempt_number) == ("b", 2)
    assert [v.eligible for v in decision.tasks] == [False, True, True]


def test_invalid_task_named_by_index_in_json() -> None:
    decision = decide(cfg(), backlog("  - title: no id\n", task("b")), Facts())
    payload = decision.as_json()
    assert payload["tasks"][0] == {
        "id": 0,
        "eligible": False,
        "reasons": ["invalid_task"],
        "messages": ["missing 'id'"],
    }
    assert payload["task_id"] == "b"


def test_breaker_tripped_flag_reports_threshold_crossing() -> None:
    assert decide(cfg(), GOOD, Facts(consecutive_failures=2)).breaker_tripped
    assert not decide(cfg(), GOOD, Facts(consecutive_failures=1)).breaker_tripped


def test_ten_thousand_tasks_last_one_eligible() -> None:
    body = [task(f"t{i}", ready="false") for i in range(9_999)] + [task("last")]
    decision = decide(cfg(), backlog(*body), Facts())
    assert decision.task_id == "last"
    assert len(decision.tasks) == 10_000


def test_a_running_task_is_not_picked_twice() -> None:
    tasks = backlog(task("a"), task("b"))
    facts = Facts(running_task_ids=frozenset({"a"}), running_count=1)
    decision = decide(cfg(max_running_attempts=2, max_open_prs=2), tasks, facts)
    assert decision.task_id == "b"
    assert decision.tasks[0].reasons == ("attempt_running",)


def test_rules_normalise_prefixes_whoever_builds_them() -> None:
    """The verdict's plain ``startswith`` is boundary-safe only on '/'-ended prefixes."""
    rules = StaticRules(("docs", "./.leviathan//"), allow_completed_dependencies=False)
    assert rules.prefixes == ("docs/", ".leviathan/")
    look_alike = parse_task(0, {"id": "a", "title": "a", "ready": True, "allowed_paths": ["docsx"]})
    assert static_verdict(look_alike, rules, {}).reasons == ("path_out_of_scope",)


def test_scope_messages_keep_the_order_of_allowed_paths() -> None:
    entry = task("a", paths="[src/a.py, '../b.md', docs/c.md, /etc/d]")
    messages = decide(cfg(), backlog(entry), Facts()).tasks[0].messages
    assert [m.split(" is ")[0] for m in messages] == ["'src/a.py'", "'../b.md'", "'/etc/d'"]
    assert "not a safe relative path" in messages[1]
    assert messages[0].endswith("is outside .leviathan/, docs/")


def test_memoised_verdicts_still_take_each_ticks_facts() -> None:
    tasks = backlog(task("a"), task("b"))
    first = decide(cfg(), tasks, Facts(attempts_per_task={"a": 2}))
    assert (first.task_id, first.tasks[0].reasons) == ("b", ("attempts_exhausted",))
    again = decide(cfg(), tasks, Facts())
    assert (again.task_id, again.tasks[0].reasons) == ("a", ())
    fresh = decide(cfg(), Backlog(tasks.tasks), Facts(attempts_per_task={"a": 2}))
    assert fresh.tasks == first.tasks


segment = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=6)
raw_path = st.lists(
    st.one_of(segment, st.sampled_from(["..", ".", "", "docs", "docsx", ".leviathan"])),
    min_size=1,
    max_size=5,
).map("/".join)


@given(st.lists(raw_path, min_size=1, max_size=3))
def test_verdict_scope_agrees_with_the_plan_check(paths: list[str]) -> None:
    """The fast check on parse-time paths says what scope.plan_violations says."""
    config = cfg()
    entry = parse_task(0, {"id": "a", "title": "a", "ready": True, "allowed_paths": paths})
    verdict = static_verdict(entry, StaticRules.of(config), {})
    expected = bool(plan_violations(paths, config.allowed_path_prefixes))
    assert ("path_out_of_scope" in verdict.reasons) is expected
    assert verdict.eligible is not expected


@pytest.mark.parametrize(
    ("probe_after", "facts", "reason", "says"),
    [
        (None, Facts(consecutive_failures=2, last_failure_age_seconds=1e9), "breaker_open", ""),
        (
            300,
            Facts(consecutive_failures=2, last_failure_age_seconds=299.4),
            "breaker_open",
            "in 1s",
        ),
        (300, Facts(consecutive_failures=2), "breaker_open", "is unknown"),
        (
            300,
            Facts(consecutive_failures=2, last_failure_age_seconds=900, running_count=1),
            "breaker_open",
            "while an attempt runs",
        ),
        (300, Facts(consecutive_failures=2, last_failure_age_seconds=300), None, ""),
        (300, Facts(consecutive_failures=2, last_failure_age_seconds=301), None, ""),
        (
            300,
            Facts(consecutive_failures=2, last_failure_age_seconds=301, open_pr_count=1),
            "max_open_prs",
            "",
        ),
        (
            300,
            Facts(consecutive_failures=2, last_failure_age_seconds=301, paused=True),
            "paused",
            "",
        ),
    ],
)
def test_half_open_breaker_probe(
    probe_after: int | None, facts: Facts, reason: str | None, says: str
) -> None:
    decision = decide(cfg(breaker_probe_after_seconds=probe_after), GOOD, facts)
    assert decision.reason == reason
    assert decision.breaker_probe is (reason is None)
    assert decision.as_json()["breaker_probe"] is (reason is None)
    if reason is None:
        assert (decision.task_id, decision.breaker_tripped) == (
            "good",
            facts.consecutive_failures >= 2,
        )
    if says:
        assert says in decision.messages[0]
