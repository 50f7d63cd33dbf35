"""The worker's start contract, shared by the Kubernetes Job and the local process.

A worker learns what to do from its arguments and ``LEVIATHAN_*`` variables
only; both executors build them here so a Job and a local run cannot drift
apart. Secrets are not part of this module: the Job takes them by
``secretKeyRef`` and the local executor from the dispatcher's own settings.
"""

from __future__ import annotations

import json
from typing import Final, Literal

from leviathan_core.messages import DispatchMessage

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

# The worker's subcommands. ``run`` does the whole attempt in one process (the
# engine in a sandbox); a Job runs the three phases in separate containers so
# the untrusted engine never shares a process, uid or volume with a token.
Phase = Literal["run", "prepare", "engine", "publish"]
PHASE_RUN: Final[Phase] = "run"
PHASE_PREPARE: Final[Phase] = "prepare"  # token-holding: clone, copy the tree for the engine
PHASE_ENGINE: Final[Phase] = "engine"  # no secrets: the change engine on its copy
PHASE_PUBLISH: Final[Phase] = "publish"  # token-holding: apply as data, verify, push, PR
ENGINE_DIR_NAME: Final = "engine"


def worker_arguments(message: DispatchMessage) -> list[str]:
    """``run --target ... --task ... --attempt ... --fence ...`` after the program name."""
    return phase_arguments(message, PHASE_RUN)


def phase_arguments(message: DispatchMessage, phase: Phase) -> list[str]:
    """``<phase> --target ... --fence ...``: every phase gets the same attempt arguments."""
    return [
        phase,
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


def attempt_dir(workspace_dir: str, attempt_id: str) -> str:
    """``<workspace_dir>/<attempt_id>``: everything one attempt writes lies below it."""
    return f"{workspace_dir.rstrip('/')}/{attempt_id}"


def engine_dir(workspace_dir: str, attempt_id: str) -> str:
    """``<workspace_dir>/<attempt_id>/engine``: the only place the engine phase sees.

    The Job mounts a volume of its own here, so the phases must agree on the path.
    """
    return f"{attempt_dir(workspace_dir, attempt_id)}/{ENGINE_DIR_NAME}"
