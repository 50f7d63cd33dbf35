"""Thousands of targets per window: how far one deployment goes, and how it grows with workers.

Real parts: redis-server, the control plane as its own process (SQLite),
Celery worker processes on the selection queue (threads pool), and the
GitHub fake answering every request after ``LATENCY`` seconds with ETags
honoured (304s cost no rate limit, as on GitHub). Each target has its own
repository and backlog on the fake (one task, not ready: every tick is idle,
the steady state of a fleet) and its own file in a directory of target files.

A round sends one tick per target at once and waits until every cycle has
recorded its decision: targets per five-minute window is 300 s over the
round's wall time. The first round warms the caches (each target's first
answers are counted requests); the idle figures come from the next round.
A paced run then sends ticks at the fleet's real rate (N per 300 s, in the
order of the targets' tick offsets) for ``PACED_SECONDS`` and times each
tick to its decision. Beat itself is measured on 10,000 target files: the
time to follow an added and a removed file, and its CPU per tick sent.

    python -m bench.bench_scale            # the whole module
    python -m bench scale                  # the same through make bench's runner
    LEVIATHAN_BENCH_SCALE=1000 python -m bench.bench_scale   # a quick look
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.rows import row
from bench.scale_stack import ScaleStack, beat_figures

LATENCY = 0.05
WINDOW = 300.0
PACED_SECONDS = 30.0


def sizes() -> tuple[list[int], list[int]]:
    """(fleet sizes, worker process counts); ``LEVIATHAN_BENCH_SCALE`` caps the fleet."""
    cap = int(os.environ.get("LEVIATHAN_BENCH_SCALE", "10000"))
    return [n for n in (1000, 5000, 10000) if n <= cap] or [cap], [1, 2, 4]


def run() -> list[dict[str, Any]]:
    fleets, processes = sizes()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lev-scale-") as tmp:
        root = Path(tmp)
        smallest = min(2000, fleets[-1])
        # Growth with workers: 2,000 targets on 1, 2 and 4 processes.
        for count in processes:
            with ScaleStack(root / f"p{count}", smallest, LATENCY, processes=count) as stack:
                stack.round()  # warm
                idle = stack.round()
                rows.append(
                    row(
                        f"idle targets per 5 min, {smallest} targets, {count} process(es)",
                        WINDOW * smallest / idle.seconds,
                        "targets",
                    )
                )
                rows.append(
                    row(
                        f"CPU per idle cycle, {count} worker process(es)",
                        idle.worker_cpu_ms,
                        "ms",
                    )
                )
                rows.append(
                    row(
                        f"cores busy (every process), {count} worker process(es)",
                        idle.cores_busy,
                        "cores",
                    )
                )
        # The fleets, on the largest process count.
        for n in fleets:
            count = processes[-1]
            with ScaleStack(root / f"n{n}", n, LATENCY, processes=count) as stack:
                warm = stack.round()
                idle = stack.round()
                rows += [
                    row(
                        f"GitHub rate-limit cost of a target's first tick, {n} targets",
                        warm.github_counted_per_cycle,
                        "req",
                    ),
                    row(
                        f"idle targets per 5 min, {n} targets, {count} processes",
                        WINDOW * n / idle.seconds,
                        "targets",
                        10_000.0 if n == 10_000 else None,
                        lower_is_better=False,
                    ),
                    row(
                        f"GitHub requests per idle tick, {n} targets", idle.github_per_cycle, "req"
                    ),
                    row(
                        f"GitHub rate-limit cost per idle tick, {n} targets",
                        idle.github_counted_per_cycle,
                        "req",
                        0.0,
                    ),
                    row(f"Redis commands per idle cycle, {n} targets", idle.redis_per_cycle, "cmd"),
                    row(
                        f"control-plane requests per idle cycle, {n} targets",
                        idle.cp_per_cycle,
                        "req",
                    ),
                    row(f"CPU per idle cycle (workers), {n} targets", idle.worker_cpu_ms, "ms"),
                    row(
                        f"CPU per idle cycle (control plane), {n} targets",
                        idle.cp_cpu_ms,
                        "ms",
                    ),
                    row(f"peak RSS per worker process, {n} targets", idle.worker_peak_mb, "MiB"),
                    row(f"peak RSS of the control plane, {n} targets", idle.cp_peak_mb, "MiB"),
                    row(f"peak RSS of redis-server, {n} targets", idle.redis_peak_mb, "MiB"),
                ]
                if n == fleets[-1]:
                    paced = stack.paced(WINDOW, PACED_SECONDS)
                    rows += [
                        row(f"tick to decision p50, {n} targets at their rate", paced[0], "ms"),
                        row(
                            f"tick to decision p99, {n} targets at their rate",
                            paced[1],
                            "ms",
                            1000.0,
                        ),
                    ]
        rows += beat_figures(root / "beat", fleets[-1])
    return rows


if __name__ == "__main__":
    for item in run():
        target = "" if item["target"] is None else f" (target {item['target']})"
        print(f"{item['name']:<62} {item['value']:>12.3f} {item['unit']}{target}")
    sys.exit(0)
