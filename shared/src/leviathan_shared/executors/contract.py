"""The worker's start contract, shared by the Kubernetes Job and the local process.

A worker learns what to do from its arguments and ``LEVIATHAN_*`` variables
only; both executors build them here so a Job and a local run cannot drift
apart. Secrets are not part of this module: the Job takes them by
``secretKeyRef`` and the local executor from the dispatcher's own settings.
"""

from __future__ import annotations

import json
from typing import Final

from leviathan_shared.executors.base import ExecutorUnavailable
from leviathan_shared.messages import DispatchMessage

ENV_TARGET: Final = "LEVIATHAN_TARGET"
ENV_TASK: Final = "LEVIATHAN_TASK"
ENV_ATTEMPT: Final = "LEVIATHAN_ATTEMPT"
ENV_ATTEMPT_NUMBER: Final = "LEVIATHAN_ATTEMPT_NUMBER"
ENV_FENCE: Final = "LEVIATHAN_FENCE"
ENV_CREATED_EVENT: Final = "LEVIATHAN_CREATED_EVENT"
ENV_CONFIG: Final = "LEVIATHAN_CONFIG"
ENV_CONTROL_PLANE_URL: Final = "LEVIATHAN_CONTROL_PLANE_URL"
ENV_CONTROL_PLANE_TOKEN: Final = "LEVIATHAN_CONTROL_PLANE_TOKEN"  # noqa: S105 (a name)
ENV_WORKSPACE_DIR: Final = "LEVIATHAN_WORKSPACE_DIR"
ENV_GITHUB_TOKEN: Final = "GITHUB_TOKEN"  # noqa: S105 (a name)

WORKER_PROGRAM: Final = "leviathan-worker"


class ExecutorRejected(ExecutorUnavailable):
    """The backend answered but refused the run (invalid spec, forbidden, no program).

    A subclass of ``ExecutorUnavailable`` so callers that only know the base
    contract still fail closed; callers that know it skip pointless retries.
    """


def worker_arguments(message: DispatchMessage) -> list[str]:
    """``run --target ... --task ... --attempt ... --fence ...`` after the program name."""
    return [
        "run",
        "--target",
        message.target_id,
        "--task",
        message.task_id,
        "--attempt",
        message.attempt_id,
        "--fence",
        str(message.fence),
    ]


def attempt_environment(message: DispatchMessage) -> dict[str, str]:
    """The variables that describe one attempt, whatever starts the worker."""
    return {
        ENV_TARGET: message.target_id,
        ENV_TASK: message.task_id,
        ENV_ATTEMPT: message.attempt_id,
        ENV_ATTEMPT_NUMBER: str(message.attempt_number),
        ENV_FENCE: str(message.fence),
        ENV_CREATED_EVENT: json.dumps(message.created_event, sort_keys=True, separators=(",", ":")),
    }


def process_environment(
    *, config_path: str, control_plane_url: str, workspace_dir: str
) -> dict[str, str]:
    """Where the worker finds its configuration, the control plane and its workspace."""
    return {
        ENV_CONFIG: config_path,
        ENV_CONTROL_PLANE_URL: control_plane_url.rstrip("/"),
        ENV_WORKSPACE_DIR: workspace_dir,
    }
