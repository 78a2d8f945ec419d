"""Stacked bar charts as inline SVG, for the gateway's usage page: one bar per period (an hour,
a day), stacked by outcome, drawn on the server (no script, no inline style: colours come from
``site.css`` by class, so the page's Content-Security-Policy stays strict).

Pure: periods and counts in, markup out. The page shows the same numbers as a table beside the
chart (the chart is ``role="img"`` with a title; the table is what a screen reader reads).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup

WIDTH = 720
HEIGHT = 220
LEFT = 48  # room for the y-axis labels
RIGHT = 8
TOP = 12
BOTTOM = 28  # room for the period labels
BAR_FILL = 0.75  # of a period's slot; the rest is the gap between bars


@dataclasses.dataclass(frozen=True)
class Segment:
    outcome: str
    count: int
    y: float
    height: float


@dataclasses.dataclass(frozen=True)
class BarGroup:
    start: dt.datetime
    label: str  # under the bar ("" on most bars), and in the group's title
    title: str
    x: float
    width: float
    total: int
    segments: tuple[Segment, ...]


@dataclasses.dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    outcomes: tuple[str, ...]
    groups: tuple[BarGroup, ...]
    # (y, label) of each horizontal grid line, 0 first.
    ticks: tuple[tuple[float, str], ...]


def last_hours(now: dt.datetime, count: int) -> list[dt.datetime]:
    """The starts of the last ``count`` hours, the current one last."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return [hour - dt.timedelta(hours=n) for n in range(count - 1, -1, -1)]


def last_days(now: dt.datetime, count: int) -> list[dt.datetime]:
    """The starts (00:00) of the last ``count`` days, today last."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return [day - dt.timedelta(days=n) for n in range(count - 1, -1, -1)]


def _scale_top(largest: int) -> tuple[int, int]:
    """(the axis maximum, the grid step): a 1, 2 or 5 times a power of ten, at most 4 steps."""
    if largest <= 0:
        return 1, 1
    magnitude = 10 ** max(0, math.floor(math.log10(largest)) - 1)
    for step in (m * magnitude * 10**e for e in range(0, 20) for m in (1, 2, 5)):
        if largest <= 4 * step:
            return math.ceil(largest / step) * step, step
    return largest, largest  # pragma: no cover - past 10**20 requests


def stacked_bars(
    *,
    title: str,
    periods: Sequence[dt.datetime],
    series: Mapping[dt.datetime, Mapping[str, int]],
    outcomes: Sequence[str],
    label: Callable[[dt.datetime], str],
    label_every: int,
    describe: Callable[[dt.datetime], str],
) -> Chart:
    """One bar group per period of ``periods`` (empty ones too), stacked in ``outcomes`` order
    from the bottom; an outcome ``series`` has that ``outcomes`` lacks is stacked last."""
    extra = sorted({o for counts in series.values() for o in counts} - set(outcomes))
    order = (*outcomes, *extra)
    totals = [sum(series.get(p, {}).values()) for p in periods]
    top, step = _scale_top(max(totals, default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(periods), 1)
    bar_width = round(slot * BAR_FILL, 1)
    base = TOP + plot_height

    groups = []
    for index, (start, total) in enumerate(zip(periods, totals, strict=True)):
        counts = series.get(start, {})
        segments, y = [], float(base)
        for outcome in order:
            n = counts.get(outcome, 0)
            if n <= 0:
                continue
            height = plot_height * n / top
            y -= height
            segments.append(Segment(outcome, n, round(y, 1), round(height, 1)))
        spelled = ", ".join(f"{s.count} {s.outcome.replace('_', ' ')}" for s in segments)
        text = f"{describe(start)}: " + (f"{total} requests ({spelled})" if total else "none")
        groups.append(BarGroup(start, label(start) if index % label_every == 0 else "", text,
                               round(LEFT + index * slot + (slot - bar_width) / 2, 1), bar_width,
                               total, tuple(segments)))  # fmt: skip
    ticks = tuple((round(base - plot_height * value / top, 1), f"{value:,}")
                  for value in range(0, top + 1, step))  # fmt: skip
    return Chart(title, WIDTH, HEIGHT, order, tuple(groups), ticks)


def _css(outcome: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in outcome)


def to_svg(chart: Chart, *, element_id: str, described_by: str | None = None) -> Markup:
    """The chart as an ``<svg>`` element: ``role="img"`` labelled by its title (and described
    by the element ``described_by`` names, the table of the same numbers)."""
    described = Markup(' aria-describedby="{}"').format(described_by) if described_by else ""
    parts = [
        Markup(
            '<svg class="bars" viewBox="0 0 {w} {h}" role="img" aria-label="{title}" '
            'aria-labelledby="{id}-title"{described}><title id="{id}-title">{title}</title>'
        ).format(
            w=chart.width, h=chart.height, title=chart.title, id=element_id, described=described
        )  # fmt: skip
    ]
    right = chart.width - RIGHT
    for y, text in chart.ticks:
        parts.append(
            Markup(
                '<line class="grid" x1="{l}" x2="{r}" y1="{y}" y2="{y}"></line>'
                '<text class="axis-label" x="{x}" y="{ty}" text-anchor="end">{text}</text>'
            ).format(l=LEFT, r=right, y=y, x=LEFT - 6, ty=y + 4, text=text)
        )
    label_y = chart.height - BOTTOM + 16
    for group in chart.groups:
        parts.append(
            Markup('<g class="bar-group" data-period="{p}"><title>{t}</title>').format(
                p=group.start.isoformat(), t=group.title
            )
        )
        for s in group.segments:
            parts.append(
                Markup(
                    '<rect class="seg seg-{c}" x="{x}" y="{y}" width="{w}" height="{h}"></rect>'
                ).format(c=_css(s.outcome), x=group.x, y=s.y, w=group.width, h=s.height)
            )
        if group.label:
            parts.append(
                Markup(
                    '<text class="axis-label" x="{x}" y="{y}" text-anchor="middle">{t}</text>'
                ).format(x=round(group.x + group.width / 2, 1), y=label_y, t=group.label)
            )
        parts.append(Markup("</g>"))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
