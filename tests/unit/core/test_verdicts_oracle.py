"""The bulk judgement's fast path is held equal to the rule itself.

``judge_backlog`` takes each task's parse-time ``standing`` verdict when the
configuration admits its paths; this proves that shortcut gives exactly what
``static_verdict`` (the readable rule) gives, for any task and configuration.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from leviathan_core.backlog import Backlog, parse_task
from leviathan_core.verdicts import StaticRules, judge_backlog, static_verdict

PATHS = st.sampled_from(
    ["docs/", "docs", "docs/a.md", ".leviathan/x.yaml", "src/app.py", "../etc", "/abs", "a//b", ""]
)
IDS = st.sampled_from(["a", "b", "c", "d", "bad id"])


@st.composite
def task_items(draw: st.DrawFn) -> Any:
    item: dict[str, Any] = {"id": draw(IDS), "title": "T"}
    if draw(st.booleans()):
        item["ready"] = draw(st.sampled_from([True, False, "yes", None]))
    if draw(st.booleans()):
        item["status"] = draw(st.sampled_from(["pending", "completed", "blocked", 3]))
    if draw(st.booleans()):
        item["allowed_paths"] = draw(st.lists(PATHS, max_size=3))
    if draw(st.booleans()):
        item["dependencies"] = draw(st.lists(IDS, max_size=2))
    return item


@given(
    items=st.lists(st.one_of(task_items(), st.sampled_from(["x", 3, None])), max_size=8),
    prefixes=st.lists(
        st.sampled_from(["docs/", ".leviathan/", "src", "docs/a.md"]), min_size=1, max_size=3
    ),
    allow_completed=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_judge_backlog_equals_the_rule_for_every_task(
    items: list[Any], prefixes: list[str], allow_completed: bool
) -> None:
    tasks = tuple(parse_task(i, item) for i, item in enumerate(items))
    rules = StaticRules(tuple(prefixes), allow_completed)
    statuses = {t.id: t.status for t in tasks if t.id is not None} if allow_completed else {}
    judged = judge_backlog(Backlog(tasks), rules)
    expected = tuple(static_verdict(task, rules, statuses) for task in tasks)
    assert judged.verdicts == expected
    assert judged.eligible == tuple(i for i, v in enumerate(expected) if v.eligible)


def test_the_fast_path_is_taken_for_a_plain_task() -> None:
    task = parse_task(0, {"id": "a", "title": "T", "ready": True, "allowed_paths": ["docs/a.md"]})
    assert task.standing is not None
    (verdict,) = judge_backlog(Backlog((task,)), StaticRules(("docs/",), False)).verdicts
    assert verdict is task.standing  # no new verdict was built
    (outside,) = judge_backlog(Backlog((task,)), StaticRules(("src/",), False)).verdicts
    assert outside is not task.standing and outside.reasons == ("path_out_of_scope",)
