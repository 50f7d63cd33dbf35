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

from pydantic import ValidationError

from leviathan_core.config import ConfigError
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
    """The environment, over the run's ``env`` file when there is one.

    A bad value is a ConfigError (which the commands print as one paragraph),
    naming the variable and never repeating the value (a token or a key).
    """
    try:
        return Settings(_env_file=run_env_file(cwd))  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(f"bad process setting: {settings_problems(exc)}") from None


def settings_problems(exc: ValidationError) -> str:
    """Each problem as ``<variable>: <message>`` (a check across variables names its own)."""
    parts = []
    for error in exc.errors(include_input=False):
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


@lru_cache(maxsize=1)
def process_settings() -> Settings:
    """This process's settings, read once (entry points only; libraries take Settings)."""
    return load_process_settings()
