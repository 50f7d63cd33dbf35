"""The settings a Leviathan process runs with, as its entry point finds them.

``Settings`` itself reads ``LEVIATHAN_*`` variables and nothing else. A
command started inside a ``make run`` checkout (any folder below it) or with
``LEVIATHAN_RUN_DIR`` set also reads that run's ``env`` file, so ``leviathan
status`` or ``celery -A leviathan_scheduler.celery_app purge`` act on the
run's Redis and control plane. That lookup is a choice of the entry points
(the CLI, the Celery apps, the worker), made here, not a library default.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Final

from leviathan_core.settings import Settings

RUN_ENV: Final = Path(".leviathan-run") / "env"


def run_env_file(cwd: Path | None = None) -> Path | None:
    """``$LEVIATHAN_RUN_DIR/env``, else the nearest ``.leviathan-run/env`` here or above.

    Found the way git finds ``.git``; the environment's own ``LEVIATHAN_*``
    variables always win over the file.
    """
    if run_dir := os.environ.get("LEVIATHAN_RUN_DIR"):
        return Path(run_dir) / "env"
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / RUN_ENV).is_file():
            return folder / RUN_ENV
    return None


def load_process_settings(cwd: Path | None = None) -> Settings:
    """The environment, over the run's ``env`` file when there is one."""
    return Settings(_env_file=run_env_file(cwd))  # type: ignore[call-arg]


@lru_cache(maxsize=1)
def process_settings() -> Settings:
    """This process's settings, read once (entry points only; libraries take Settings)."""
    return load_process_settings()
