"""Where one attempt keeps its files, the same in one process and across a Job's containers.

``<workspace>/<attempt>/``
    ``publisher/``   the publisher's clone (never shown to the engine)
    ``state.json``   what ``prepare`` hands to ``publish``
    ``spool/``       the event spool (when no LEVIATHAN_SPOOL_DIR is set)
    ``engine/``      the only folder the engine sees (its own volume in a Job):
        ``target/``       the engine's work tree (a separate clone)
        ``scratch/``      the engine's scratch files (task.json, HOME)
        ``backlog.yaml``  the cloned backlog, from which the engine phase reads its task
        ``result.json``   how the engine ended (untrusted: read with bounds)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from leviathan_core.job_contract import engine_dir
from leviathan_worker.verify import scratch_listing

Listing = dict[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path
    engine: Path

    @classmethod
    def of(cls, workspace: Path, attempt_id: str) -> Layout:
        # The Job mounts the engine's volume at exactly this path (see job_spec).
        return cls(workspace / attempt_id, Path(engine_dir(str(workspace), attempt_id)))

    @property
    def publisher(self) -> Path:
        return self.root / "publisher"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def target(self) -> Path:
        return self.engine / "target"

    @property
    def scratch(self) -> Path:
        return self.engine / "scratch"

    @property
    def task_source(self) -> Path:
        return self.engine / "backlog.yaml"

    @property
    def result(self) -> Path:
        return self.engine / "result.json"


def beside_listing(layout: Layout) -> Listing:
    """Every entry of the attempt's folder but the engine's own tree and scratch."""
    skip = (layout.target, layout.scratch, layout.result, layout.state)
    return scratch_listing(layout.root, skip)


def written_beside(layout: Layout, before: Listing) -> list[str]:
    """What changed beside the engine's tree since ``before``, relative to the tree."""
    after = beside_listing(layout)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return [os.path.relpath(layout.root / k, layout.target) for k in changed]


def save_state(layout: Layout, state: dict[str, object]) -> None:
    """What ``prepare`` hands to ``publish`` (in the publisher's part of the folder)."""
    layout.state.parent.mkdir(parents=True, exist_ok=True)
    layout.state.write_text(json.dumps(state))


def load_state(layout: Layout) -> dict[str, object]:
    try:
        state = json.loads(layout.state.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}
