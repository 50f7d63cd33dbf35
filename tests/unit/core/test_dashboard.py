"""The dashboard issue's body and its checkboxes (pure)."""

from __future__ import annotations

import re

import pytest

from leviathan_core.dashboard import (
    ACTIONS_END,
    ACTIONS_START,
    Action,
    DashboardView,
    TaskRow,
    boxes,
    digest,
    escape,
    marker,
    newly_ticked,
    render,
)
from leviathan_core.reason_texts import CYCLE_REASONS, TASK_REASONS


def view(**changes: object) -> DashboardView:
    base = DashboardView(
        target_id="radix",
        attempt_cap=2,
        rows=(
            TaskRow("fix-links", "Fix broken links", "eligible"),
            TaskRow("later", "Later", "skipped", reasons=("not_ready", "has_dependencies")),
            TaskRow("busy", "Busy", "running", attempts=1),
            TaskRow("review", "Review me", "pr_open", pr_url="https://github.com/o/r/pull/7"),
            TaskRow("old", "Old", "done", attempts=2),
        ),
        decision="no_eligible_task",
    )
    return DashboardView(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def row_of(body: str, task_id: str) -> str:
    (line,) = [x for x in body.splitlines() if x.startswith(f"| `{task_id}` |")]
    return line


def test_each_task_state_is_shown_in_words_with_its_attempts() -> None:
    body = render(view())
    assert row_of(body, "fix-links") == "| `fix-links` | Fix broken links | eligible | 0 of 2 |"
    skipped = row_of(body, "later")
    assert "skipped: " in skipped
    assert f"{TASK_REASONS['not_ready']} (`not_ready`)" in skipped
    assert "(`has_dependencies`)" in skipped
    assert row_of(body, "busy").endswith("| running | 1 of 2 |")
    assert "[PR open](https://github.com/o/r/pull/7)" in row_of(body, "review")
    assert row_of(body, "old").endswith("| done | 2 of 2 |")


def test_status_shows_pause_breaker_and_the_last_decision_in_words() -> None:
    body = render(
        view(
            paused=True,
            pause_reason="deploy freeze",
            pause_by="cli:ana",
            consecutive_failures=3,
            breaker_threshold=2,
            breaker_open=True,
        )
    )
    assert "- Paused by cli:ana: deploy freeze" in body
    assert "- Breaker open: 3 consecutive failures (opens at 2)" in body
    assert f"`no_eligible_task`: {CYCLE_REASONS['no_eligible_task'][0]}" in body
    dispatched = render(view(decision=None, dispatched_task="fix-links"))
    assert "- Last cycle: dispatched `fix-links`" in dispatched


def test_the_body_is_the_same_for_the_same_view_and_holds_no_time() -> None:
    assert render(view()) == render(view())
    assert digest(render(view())) != digest(render(view(paused=True)))
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d\d:\d\d", render(view()))


@pytest.mark.parametrize(
    ("title", "absent"),
    [
        ("<img src=x onerror=alert(1)>", "<img"),
        ("[click](https://evil.example)", "[click](https://evil.example)"),
        ("ping @octocat and @org/team", "@octocat"),
        ("a | b | c", "a | b"),
        ("**bold** _it_ `code`", "**bold**"),
        ("line one\n- [x] Resume `radix` <!-- leviathan-action:resume:radix -->", "- [x]"),
    ],
)
def test_task_titles_are_escaped(title: str, absent: str) -> None:
    body = render(view(rows=(TaskRow("t", title, "eligible"),)))
    assert absent not in body
    assert len(row_of(body, "t").split(" | ")) == 4  # still four cells
    assert boxes(body.replace("- [ ]", "- [x]"), "radix") == {}


def test_escape_keeps_the_text_readable() -> None:
    assert escape("Fix the README") == "Fix the README"
    assert escape("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert escape("a\nb\tc") == "a b c"


def test_actions_offer_a_box_only_for_what_can_be_done() -> None:
    calm = render(view())
    assert boxes(calm, "radix") == {}
    assert "Nothing to do" in calm
    both = render(view(paused=True, breaker_open=True))
    assert boxes(both, "radix") == {Action.RESUME: False, Action.RESET_BREAKER: False}
    assert "- [ ] Resume `radix`" in both
    assert "- [ ] Reset the breaker of `radix`" in both


def test_a_ticked_box_is_read_and_only_a_newly_ticked_one_counts() -> None:
    before = render(view(paused=True, breaker_open=True))
    after = before.replace("- [ ] Resume", "- [x] Resume")
    assert newly_ticked(before, after, "radix") == (Action.RESUME,)
    assert newly_ticked(after, after, "radix") == ()  # an unrelated edit
    upper = before.replace("- [ ] Reset", "- [X] Reset")
    assert newly_ticked(before, upper, "radix") == (Action.RESET_BREAKER,)
    assert newly_ticked(before, after, "other") == ()


def test_boxes_a_user_adds_elsewhere_do_nothing() -> None:
    before = render(view(paused=True))
    line = "- [x] Resume `radix` <!-- leviathan-action:resume:radix -->"
    outside = before + "\n" + line + "\n- [x] Reset the breaker of `radix`\n"
    assert newly_ticked(before, outside, "radix") == ()
    plain = before.replace(ACTIONS_END, "- [x] Resume radix please\n" + ACTIONS_END)
    assert newly_ticked(before, plain, "radix") == ()
    unknown = before.replace(
        ACTIONS_END, "- [x] Delete <!-- leviathan-action:delete-all:radix -->\n" + ACTIONS_END
    )
    assert newly_ticked(before, unknown, "radix") == ()
    no_section = before.replace(ACTIONS_START, "").replace("- [ ] Resume", "- [x] Resume")
    assert newly_ticked(before, no_section, "radix") == ()


def test_the_marker_names_the_target() -> None:
    assert render(view()).startswith(marker("radix") + "\n")
    assert marker("radix") not in render(view(target_id="beta"))


def test_the_configuration_refuses_a_dashboard_on_the_local_forge_and_a_bad_label() -> None:
    from leviathan_core.config import ConfigError, parse_config

    base = {"target_id": "radix", "target_repo_url": "https://github.com/acme/radix"}
    assert parse_config({**base, "dashboard_issue": True}, "r.yaml").dashboard_label == (
        "leviathan-dashboard"
    )
    with pytest.raises(ConfigError, match=r"r\.yaml: .*dashboard_issue: true needs forge: github"):
        parse_config({**base, "dashboard_issue": True, "forge": "local"}, "r.yaml")
    with pytest.raises(ConfigError, match=r"r\.yaml: key 'dashboard_label'"):
        parse_config({**base, "dashboard_label": "a,b"}, "r.yaml")
    with pytest.raises(ConfigError, match=r"key 'dashboard_issue'"):
        parse_config({**base, "dashboard_issue": "yes"}, "r.yaml")


def test_a_long_backlog_is_cut_to_what_an_issue_body_holds() -> None:
    rows = tuple(
        TaskRow(f"task-{n}", "A rather long title " * 5, "skipped", reasons=("not_ready",))
        for n in range(2000)
    )
    body = render(view(rows=rows, paused=True))
    assert len(body) <= 65_536
    shown = [line for line in body.splitlines() if line.startswith("| `task-")]
    assert 100 < len(shown) < 2000
    assert body.rstrip().endswith(
        f"{2000 - len(shown)} more tasks are not shown: an issue body holds at most 65,536 "
        "characters."
    )
    assert boxes(body, "radix") == {Action.RESUME: False}  # the actions stay
