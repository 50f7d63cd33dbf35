"""Pick where a target's runs are read from: Kubernetes Jobs or local run files.

The dispatcher (which starts runs) and the reconciler (which inspects and
deletes them) look in the same place because both follow ``executor`` and
the same folders. The Kubernetes client is imported only for ``executor:
kubernetes``: its models take a third of a second to load, which ``leviathan
status`` on a local target should not pay.
"""

from __future__ import annotations

from pathlib import Path

from leviathan_adapters.runs.local import LocalRuns
from leviathan_core.config import AutonomyConfig
from leviathan_core.runs import RunInspector
from leviathan_core.settings import Settings


def local_run_dir(settings: Settings) -> Path:
    """The folder of local runs, one sub-folder per attempt."""
    return Path(settings.data_dir).resolve() / "runs"


def make_run_inspector(config: AutonomyConfig, settings: Settings) -> RunInspector:
    """Job truth for ``executor: kubernetes``, else process truth from the run files.

    Raises ``ExecutorUnavailable`` when Kubernetes credentials cannot be found.
    """
    if config.executor == "kubernetes":
        from leviathan_adapters.runs.kubernetes import KubernetesRuns, load_batch_api

        return KubernetesRuns(config.worker_namespace, load_batch_api())
    return LocalRuns(local_run_dir(settings))
