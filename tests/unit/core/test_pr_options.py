"""The ``pull_request:`` group: checked when the file loads; the body decided purely."""

from __future__ import annotations

from typing import Any

import pytest

from leviathan_core.config import ConfigError, parse_config
from leviathan_core.pr_options import (
    MAX_BODY,
    PullRequestOptions,
    closing_lines,
    render_body,
    task_link,
)

BASE = {"target_id": "demo", "target_repo_url": "https://github.com/acme/site"}
VALUES = {"task_id": "t1", "title": "Fix", "summary": "SUMMARY", "task_link": "", "closes": ""}


def load(options: dict[str, Any]) -> PullRequestOptions:
    return parse_config({**BASE, "pull_request": options}, "demo.yaml").pull_request


def test_defaults_change_nothing() -> None:
    options = parse_config(BASE, "demo.yaml").pull_request
    assert options == PullRequestOptions()
    assert (options.labels, options.draft, options.body_template) == ([], False, None)
    assert render_body(options, VALUES) == "SUMMARY"
    assert not options.decorates


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"reviewers": ["not a login"]}, "pull_request.reviewers': Value error, 'not a login'"),
        ({"reviewers": ["octocat", "OctoCat"]}, "reviewer 'OctoCat' is listed twice"),
        ({"team_reviewers": ["acme/docs"]}, "is not a team slug"),
        ({"labels": [""]}, "pull_request.labels.0'"),
        ({"labels": ["a" * 51]}, "pull_request.labels.0'"),
        ({"labels": ["a,b"]}, "has a comma"),
        ({"label_color": "#fff"}, "is not a 6-digit hex color"),
        ({"draft": "yes"}, "pull_request.draft'"),
        ({"body_template": "{nope}"}, "unknown placeholder {nope}; known: {task_id}"),
        ({"body_template": "{title!r}"}, "placeholder {title} takes no format"),
        ({"body_template": "{title"}, "write a literal brace as"),
        ({"colour": "fff"}, "pull_request.colour': unknown key"),
    ],
)
def test_bad_values_name_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(options)
    assert "demo.yaml: key 'pull_request." in str(raised.value)
    assert message in str(raised.value)


def test_a_template_places_what_it_names_and_the_rest_is_appended() -> None:
    values = {**VALUES, "task_link": "https://x/blob/s/f#L3", "closes": "Closes #9"}
    placed = load({"body_template": "{title} {task_link}\n{{literal}}"})
    assert render_body(placed, values) == "Fix https://x/blob/s/f#L3\n{literal}\n\nCloses #9\n"
    plain = load({})
    assert render_body(plain, values) == (
        "SUMMARY\n\nTask in the backlog: https://x/blob/s/f#L3\n\nCloses #9\n"
    )


def test_the_body_is_cut_to_githubs_limit_keeping_the_closing_lines() -> None:
    values = {**VALUES, "summary": "x" * (MAX_BODY + 10), "closes": "Closes #1"}
    body = render_body(load({}), values)
    assert len(body) <= MAX_BODY
    assert body.endswith("… (cut to GitHub's body limit)\n\nCloses #1\n")


def test_links_and_closing_lines() -> None:
    assert task_link("https://github.com/acme/site.git", "abc", ".leviathan/backlog.yaml", 7) == (
        "https://github.com/acme/site/blob/abc/.leviathan/backlog.yaml#L7"
    )
    assert task_link("https://ghe.example/acme/site", "abc", "b.yaml", 1) == (
        "https://ghe.example/acme/site/blob/abc/b.yaml#L1"
    )
    assert task_link("file:///srv/site.git", "abc", "b.yaml", 1) is None
    assert task_link("https://github.com/acme/site", "abc", "b.yaml", None) is None
    assert closing_lines([12, 40]) == ["Closes #12", "Closes #40"]
