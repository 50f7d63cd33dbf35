"""Beat's liveness heartbeat: a file beat touches on every loop, and the probe that reads it.

Beat consumes no queue, so ``celery inspect ping`` cannot reach it; a hung beat
shows only as a file that stops being touched. The probe runs as
``python -m leviathan_scheduler.heartbeat <file> <max-age-seconds>`` and imports
nothing beyond the standard library, so it costs milliseconds, not a Celery start.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

FILE_NAME: Final = "beat-heartbeat"
# Beat's loop wakes at least this often, so a fresh file is at most this old.
EVERY_SECONDS: Final = 60.0


def heartbeat_path(data_dir: str | Path) -> Path:
    """Where beat keeps its heartbeat: beside its schedule, under the data directory."""
    return Path(data_dir) / FILE_NAME


def touch(path: Path) -> bool:
    """Mark beat alive now; False (never an exception) when the file cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        return False
    return True


def is_fresh(path: Path, max_age_seconds: float, now: float | None = None) -> bool:
    """True when the file exists and was touched at most ``max_age_seconds`` ago."""
    try:
        touched = path.stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - touched <= max_age_seconds


def main(argv: Sequence[str] | None = None) -> int:
    """The probe: exit 0 when the heartbeat is fresh, 1 when stale or missing, 2 on misuse."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        file, max_age = Path(args[0]), float(args[1])
    except (IndexError, ValueError):
        print(
            "usage: python -m leviathan_scheduler.heartbeat FILE MAX_AGE_SECONDS", file=sys.stderr
        )
        return 2
    if is_fresh(file, max_age):
        return 0
    print(f"beat heartbeat {file} is missing or older than {max_age:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
