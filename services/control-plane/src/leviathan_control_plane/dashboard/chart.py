"""Attempts and their outcomes per UTC day as the geometry of a stacked bar chart.

Pure: the template draws the rectangles this computes as inline SVG, so the
page needs no script and no chart library, and a test can check every bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leviathan_control_plane.queries.timeline import OUTCOMES, DayOutcomes

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 40


@dataclass(frozen=True)
class Bar:
    """One outcome's part of one day's column."""

    x: float
    y: float
    width: float
    height: float
    outcome: str
    day: str
    count: int


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[DayLabel]
    peak: int


def scale_top(peak: int) -> int:
    """A round top for the axis: the first of 1, 2, 5, 10, 20, 50 … that is at least ``peak``."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= peak:
                return step * magnitude
        magnitude *= 10


def build(days: Sequence[DayOutcomes]) -> Chart:
    """Stacked columns (succeeded at the bottom, then failed, then in flight), one per day."""
    peak = max((d.total for d in days), default=0)
    top = scale_top(max(peak, 1))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    slot = plot_w / max(len(days), 1)
    width = max(slot * 0.7, 1.0)
    bars: list[Bar] = []
    labels: list[DayLabel] = []
    every = max(1, len(days) // 10)  # at most about ten day labels
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - width) / 2
        y = baseline
        for outcome in OUTCOMES:
            count = getattr(day, outcome)
            if count:
                height = plot_h * count / top
                y -= height
                bars.append(
                    Bar(
                        round(x, 2),
                        round(y, 2),
                        round(width, 2),
                        round(height, 2),
                        outcome,
                        day.day.isoformat(),
                        count,
                    )
                )
        if i % every == 0 or i == len(days) - 1:
            labels.append(DayLabel(round(x + width / 2, 2), day.day.strftime("%m-%d")))
    ticks = [
        Tick(round(baseline - plot_h * v / top, 2), str(v)) for v in sorted({0, top // 2, top})
    ]
    return Chart(WIDTH, HEIGHT, LEFT, baseline, bars, ticks, labels, peak)
