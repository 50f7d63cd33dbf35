"""What each reason code means, in one line each: the texts behind the reason-code
reference page (``scripts/gen_docs.py``, which refuses a code without an entry
here), the dashboard page and the dashboard issue (``leviathan_core.dashboard``).

Kept apart from the enums so the pure decision code carries no prose.
Backticks mark code spans (the page renders them as Markdown, the dashboard as
``<code>``).
"""

from __future__ import annotations

from typing import Final

# Cycle reasons in the order decide() checks them: (meaning, what to do).
CYCLE_REASONS: Final[dict[str, tuple[str, str]]] = {
    "disabled": (
        "`autonomy_enabled: false` in the target's configuration",
        "set it to `true`",
    ),
    "paused": (
        "`leviathan pause` is in force (with its reason and expiry)",
        "`leviathan resume --target ID`, or wait for the expiry",
    ),
    "breaker_open": (
        "`circuit_breaker_failures` consecutive attempts failed",
        "read `leviathan attempts --target ID --failed` (or `GET /v1/failures`), fix the "
        "cause, `leviathan reset-breaker --target ID --reason ...`; with "
        "`breaker_probe_after_seconds` set, one probe attempt runs by itself after that long",
    ),
    "fact_unavailable:forge": (
        "GitHub (or the local forge) could not be read: network, rate limit, credentials, a "
        "token without access to the repository (the message then says \"check the token's "
        'access to the repository")',
        "check `GITHUB_TOKEN` and its access to the repository, the rate limit, `github_api_url`",
    ),
    "fact_unavailable:control_plane": (
        "the control plane did not answer",
        "check the control plane and `LEVIATHAN_CONTROL_PLANE_TOKEN`",
    ),
    "fact_unavailable:redis": (
        "Redis did not answer",
        "check `LEVIATHAN_REDIS_URL`",
    ),
    "fact_unavailable:backlog": (
        "the backlog could not be fetched (missing file, branch, access)",
        "check `target_repo_url`, `target_branch` and that `.leviathan/backlog.yaml` exists",
    ),
    "token_budget_spent": (
        "the model tokens the target spent this UTC day (the control plane's sum of "
        "`attempt.usage` reports) reached `daily_token_budget`, or could not be counted while "
        "a budget is set",
        "wait for 00:00 UTC, or raise `daily_token_budget`; `leviathan status` and "
        "`GET /v1/targets/{id}/usage` show the spending",
    ),
    "max_open_prs": (
        "open `agent/` PRs ≥ `max_open_prs`",
        "review and merge or close the open PR",
    ),
    "max_running_attempts": (
        "running attempts ≥ `max_running_attempts`",
        "wait; the reconciler fails attempts that outlive `attempt_timeout_seconds`",
    ),
    "backlog_invalid": (
        "the backlog file cannot be used (YAML error, duplicate ids, no `tasks` list)",
        "`leviathan check-backlog` names the line and column",
    ),
    "no_eligible_task": (
        "no task passes every task rule below",
        "the per-task reasons say what to change",
    ),
}

TASK_REASONS: Final[dict[str, str]] = {
    "not_ready": '`ready` is not the YAML boolean `true` (a string `"true"` or `1` says so)',
    "status_not_pending": "`status` is set and is not exactly `pending` (`Pending`, `done` …)",
    "has_dependencies": (
        "`dependencies` is not empty (and completed dependencies are not allowed)"
    ),
    "dependencies_not_completed": (
        "with `allow_completed_dependencies: true`: a dependency is missing or not `completed`"
    ),
    "no_allowed_paths": "`allowed_paths` is missing or empty",
    "path_out_of_scope": (
        "an allowed path is outside every prefix, absolute, has `..`, a backslash or control "
        "characters (`docsx/` is not `docs/`)"
    ),
    "attempts_exhausted": "the task used `max_attempts_per_task` attempts",
    "open_pr_exists": "an open `agent/` PR already belongs to this task",
    "attempt_running": (
        "an attempt of this task is still running (matters when `max_running_attempts` > 1)"
    ),
    "invalid_task": "the entry itself is malformed (the message says how)",
}

# Reasons of attempt.failed: (who records it, when).
FAILURE_REASONS: Final[dict[str, tuple[str, str]]] = {
    "missing_token": (
        "worker",
        "`GITHUB_TOKEN` is needed but not set, or `LEVIATHAN_CONTROL_PLANE_TOKEN` is missing",
    ),
    "config_invalid": (
        "worker",
        "the config does not load, the target is unknown, or `LEVIATHAN_CREATED_EVENT` is wrong",
    ),
    "clone_failed": (
        "worker",
        "the clone or checkout failed (git's message, with credentials scrubbed)",
    ),
    "task_not_found": (
        "worker",
        "the task is not in the backlog, is malformed, or the backlog is broken",
    ),
    "task_not_eligible": (
        "worker",
        "the task changed since it was selected: no longer `ready`, no longer pending, or out "
        "of scope (`reasons` names the rule)",
    ),
    "engine_failed": (
        "worker",
        "the engine failed, timed out, touched its `.git`, or cannot be sandboxed "
        "(`allow_unsandboxed_engine`)",
    ),
    "checks_failed": (
        "worker",
        "the quality gate (`verify_command`) still failed after the engine's repair turns "
        "(or the engine cannot repair); the message names the command and its output's tail; "
        "nothing is pushed",
    ),
    "budget_exhausted": (
        "worker",
        "the `agent` engine spent a budget of the attempt (`agent_max_turns`, "
        "`agent_max_tokens` or `agent_wall_seconds`, repair turns included); the message names it",
    ),
    "scope_violation": (
        "worker",
        "a changed path is outside the task's `allowed_paths` or the target's prefixes, or is "
        "a link, special file or `.git` path the scope check refuses (the payload's `paths` "
        "lists them); nothing is pushed",
    ),
    "no_changes": (
        "worker",
        "the engine changed nothing (the publisher's own backlog edit does not count)",
    ),
    "change_too_large": (
        "worker",
        "the engine's tree holds more entries, changed files or bytes than the publisher reads",
    ),
    "fence_stale": (
        "worker",
        "the attempt is already terminal, its fence moved on, or the control plane refused to "
        "confirm that it is still current",
    ),
    "control_plane_unreachable": (
        "worker",
        "a fence check (before the clone, before the push, before the PR) could not reach the "
        "control plane for `LEVIATHAN_WORKER_FENCE_CHECK_SECONDS` (default 60), retrying with "
        "backoff; it counts toward the breaker like every failed attempt",
    ),
    "pr_cap": (
        "worker",
        "another agent PR was opened while the attempt ran (the pushed branch is deleted)",
    ),
    "push_rejected": ("worker", "the remote refused the push"),
    "forge_error": (
        "worker",
        "the forge could not list PRs, open the PR, or list its files; a token that cannot see "
        'or write to the repository says "check the token\'s access to the repository"',
    ),
    "pr_mismatch": (
        "worker",
        "the PR's files differ from the verified diff (the PR is left open for a human)",
    ),
    "internal_error": (
        "worker",
        "anything unexpected: the message names the exception and contains no traceback",
    ),
    "job_failed": (
        "reconciler",
        "the worker Job (or local run) failed, e.g. its `prepare` or `engine` container failed",
    ),
    "job_missing": (
        "reconciler",
        "the Job is missing after dispatch, or `attempt_grace_seconds` after creation (a "
        "purged dispatch message ends this way)",
    ),
    "timeout": (
        "reconciler",
        "the attempt outlived `attempt_timeout_seconds` + `attempt_grace_seconds`; its Job "
        "was deleted",
    ),
    "dispatch_failed": (
        "dispatcher, scheduler",
        "the worker could not be started: an invalid message, an unknown target or a broken "
        "file, Kubernetes refused the Job or stayed unreachable through the retries; or the "
        "scheduler could not send the dispatch message",
    ),
}
