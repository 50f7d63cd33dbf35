"""A team's habits on GitHub: labels (created when the repository lacks them) and reviewers.

Applied after the PR is opened (GitHub takes neither at creation), each step
on its own: a reviewer GitHub refuses (not a collaborator, a team the App
cannot see) must not cost the labels, nor the PR. What failed comes back as
text for the worker to print and record; the PR stays open either way.
Repeating it is harmless: labels are added, not replaced, and a review
already requested is requested again without effect.
"""

from __future__ import annotations

from collections.abc import Callable

from github.Repository import Repository

from leviathan_core.pr_options import PullRequestOptions

Describe = Callable[[Exception, str], str]


def missing_labels(wanted: list[str], existing: list[str]) -> list[str]:
    """Labels to create; GitHub matches label names without regard to case."""
    have = {name.lower() for name in existing}
    return [name for name in wanted if name.lower() not in have]


def decorate(
    repo: Repository, number: int, options: PullRequestOptions, describe: Describe
) -> list[str]:
    """Add ``options``' labels and request its reviewers on PR ``number``; the problems."""
    problems: list[str] = []
    if options.labels:
        action = f"labelling pull request #{number}"
        try:
            existing = [label.name for label in repo.get_labels()]
            for name in missing_labels(options.labels, existing):
                repo.create_label(name, options.label_color)
            repo.get_issue(number).add_to_labels(*options.labels)
        except Exception as exc:
            problems.append(describe(exc, action))
    if options.reviewers or options.team_reviewers:
        action = f"requesting reviews on pull request #{number}"
        try:
            repo.get_pull(number).create_review_request(
                reviewers=options.reviewers, team_reviewers=options.team_reviewers
            )
        except Exception as exc:
            problems.append(describe(exc, action))
    return problems
