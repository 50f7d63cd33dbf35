"""The row format every benchmark module returns (see bench/__main__.py)."""

from __future__ import annotations

from typing import Any


def row(
    name: str, value: float, unit: str, target: float | None = None, lower_is_better: bool = True
) -> dict[str, Any]:
    """One figure; ``target`` None means informational (no pass/miss)."""
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "target": target,
        "lower_is_better": lower_is_better,
    }
