"""How the pull requests of one target look: the ``pull_request:`` group of a target file.

Every key is optional and the defaults open the same PR as before (no labels,
no reviewers, not a draft, Leviathan's own body). Values are checked when the
file loads, so a typo in a reviewer's login or a template placeholder is an
error naming the key, not a failed attempt. Rendering the body is pure: the
worker gathers the values, this module decides the text.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Annotated, Final
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

MAX_BODY: Final = 65_536  # characters GitHub accepts in a pull request body
MAX_LABEL: Final = 50  # characters GitHub accepts in a label name
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_TEAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")
PLACEHOLDERS: Final = {
    "task_id": "the task's id",
    "title": "the task's title",
    "criteria": "the acceptance criteria as a checklist",
    "attempt_id": "the attempt's id",
    "branch": "the PR's branch",
    "summary": "Leviathan's own body (task, criteria, evidence, changed files)",
    "task_link": "the link to the task's line in the backlog at the PR's commit",
    "closes": "one `Closes #N` line per issue the task names",
}
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]


def _unique(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value.lower() in seen:
            raise ValueError(f"{what} {value!r} is listed twice")
        seen.add(value.lower())
    return values


def template_fields(template: str) -> list[str]:
    """The placeholders ``template`` uses; a ValueError says what is wrong with it."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{exc} (write a literal brace as '{{{{' or '}}}}')") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{name}}}; known: {known}")
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} takes no format or conversion")
        names.append(name)
    return names


class PullRequestOptions(BaseModel):
    """Labels, reviewers, draft state and body of the PRs a target gets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: list[Label] = Field(default_factory=list)
    label_color: str = "ededed"
    reviewers: list[str] = Field(default_factory=list)
    team_reviewers: list[str] = Field(default_factory=list)
    draft: StrictBool = False
    body_template: str | None = Field(default=None, min_length=1)
    link_task: StrictBool = False
    close_issues: StrictBool = True

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if label != label.strip() or "," in label:
                raise ValueError(f"label {label!r} has a comma or surrounding spaces")
        return _unique(value, "label")

    @field_validator("label_color")
    @classmethod
    def _color(cls, value: str) -> str:
        if not _COLOR.fullmatch(value):
            raise ValueError(f"{value!r} is not a 6-digit hex color such as 'ededed'")
        return value.lower()

    @field_validator("reviewers")
    @classmethod
    def _reviewers(cls, value: list[str]) -> list[str]:
        for login in value:
            if not _LOGIN.fullmatch(login):
                raise ValueError(f"{login!r} is not a GitHub login")
        return _unique(value, "reviewer")

    @field_validator("team_reviewers")
    @classmethod
    def _teams(cls, value: list[str]) -> list[str]:
        for slug in value:
            if not _TEAM.fullmatch(slug):
                raise ValueError(f"{slug!r} is not a team slug (the team's name in its URL)")
        return _unique(value, "team")

    @field_validator("body_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            template_fields(value)
        return value

    @property
    def decorates(self) -> bool:
        """Whether anything must be done to the PR after it is opened."""
        return bool(self.labels or self.reviewers or self.team_reviewers)


def closing_lines(issues: Sequence[int]) -> list[str]:
    """``Closes #N`` for each issue: GitHub closes them when the PR is merged."""
    return [f"Closes #{number}" for number in issues]


def task_link(repo_url: str, commit: str, path: str, line: int | None) -> str | None:
    """The blob URL of ``path`` at ``commit`` (``#L<line>``) for an http(s) repository URL."""
    match = re.match(r"^(https?://[^/]+/[^/]+/[^/]+?)(?:\.git)?/?$", repo_url)
    if match is None or line is None:
        return None
    return f"{match.group(1)}/blob/{commit}/{quote(path)}#L{line}"


def criteria_list(criteria: Sequence[str]) -> str:
    return "\n".join(f"- [ ] {c}" for c in criteria) or "- (none given)"


def render_body(options: PullRequestOptions, values: Mapping[str, str]) -> str:
    """The PR body: the template (or ``summary``) plus the link and closing lines it
    does not place itself, cut to GitHub's limit."""
    used = template_fields(options.body_template) if options.body_template else []
    full = {name: values.get(name, "") for name in PLACEHOLDERS}
    text = options.body_template.format_map(full) if options.body_template else full["summary"]
    tail = []
    if full["task_link"] and "task_link" not in used:
        tail.append(f"Task in the backlog: {full['task_link']}")
    if full["closes"] and "closes" not in used:
        tail.append(full["closes"])
    ending = "\n\n" + "\n\n".join(tail) + "\n" if tail else ""
    room = MAX_BODY - len(ending)
    if len(text) > room:  # the closing lines survive the cut: GitHub acts on them
        note = "\n\n… (cut to GitHub's body limit)"
        text = text[: room - len(note)] + note
    return text.rstrip("\n") + ending if tail else text
