"""The local forge's record of a PR's habits: draft, labels, reviewers.

Nobody reviews on the local forge, so these are only kept (in the store's own
SQLite file, beside the PRs) for ``make run`` and the tests to read back:
the offline loop accepts every ``pull_request:`` option GitHub does.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from leviathan_core.pr_options import PullRequestOptions

SCHEMA = """
CREATE TABLE IF NOT EXISTS pull_habits (
    number INTEGER PRIMARY KEY,
    draft INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '[]',
    reviewers TEXT NOT NULL DEFAULT '[]',
    team_reviewers TEXT NOT NULL DEFAULT '[]'
);
"""


def record_draft(db: sqlite3.Connection, number: int, draft: bool) -> None:
    db.execute(
        "INSERT INTO pull_habits (number, draft) VALUES (?, ?) "
        "ON CONFLICT (number) DO UPDATE SET draft = excluded.draft",
        (number, int(draft)),
    )


def record_decoration(db: sqlite3.Connection, number: int, options: PullRequestOptions) -> None:
    """Labels and reviewers are added to what is there, as on GitHub."""
    now = read(db, number)
    merged = {
        key: list(dict.fromkeys([*now[key], *getattr(options, key)]))
        for key in ("labels", "reviewers", "team_reviewers")
    }
    db.execute(
        "INSERT INTO pull_habits (number, labels, reviewers, team_reviewers) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (number) DO UPDATE SET labels = excluded.labels, "
        "reviewers = excluded.reviewers, team_reviewers = excluded.team_reviewers",
        (number, *(json.dumps(merged[k]) for k in ("labels", "reviewers", "team_reviewers"))),
    )


def read(db: sqlite3.Connection, number: int) -> dict[str, Any]:
    row = db.execute(
        "SELECT draft, labels, reviewers, team_reviewers FROM pull_habits WHERE number = ?",
        (number,),
    ).fetchone()
    if row is None:
        return {"draft": False, "labels": [], "reviewers": [], "team_reviewers": []}
    return {
        "draft": bool(row[0]),
        "labels": json.loads(row[1]),
        "reviewers": json.loads(row[2]),
        "team_reviewers": json.loads(row[3]),
    }
