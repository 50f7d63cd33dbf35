"""``leviathan-dispatcher``: a Celery worker that consumes only ``leviathan.dispatch``.

Extra arguments are passed to ``celery worker`` after the defaults, so any
default can be overridden (e.g. ``leviathan-dispatcher --loglevel DEBUG``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from leviathan_core.constants import QUEUE_DISPATCH

DEFAULT_ARGS = (
    "worker",
    "--queues",
    QUEUE_DISPATCH,
    "--events",  # task events for Flower
    "--pool",
    "solo",  # one message at a time: starting a run takes milliseconds
    "--loglevel",
    "INFO",
    "--hostname",
    "dispatcher@%h",
    "--without-mingle",
    "--without-gossip",
)


def worker_argv(extra: Sequence[str]) -> list[str]:
    return [*DEFAULT_ARGS, *extra]


def main(argv: Sequence[str] | None = None) -> None:
    from leviathan_dispatch.celery_app import configured_app

    configured_app().worker_main(worker_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
