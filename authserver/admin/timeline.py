"""The signing-key timeline of the overview page: per algorithm, each key's pending, active and
retired windows along one time axis, "now" marked, and the next planned rotation. Geometry only;
the template draws it as inline SVG (no script, no inline style)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from authserver.keys.rotation import Schedule
from authserver.models import KeyState, SigningKey

WIDTH = 960
LABEL_WIDTH = 90
LANE_HEIGHT = 44
BAR_HEIGHT = 24
TOP = 28


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    state: str  # pending | active | retired: the CSS class and the visible text
    kid: str
    start: dt.datetime
    end: dt.datetime

    @property
    def label(self) -> str:
        return self.state if self.width >= 56 else ""


@dataclasses.dataclass(frozen=True)
class Lane:
    alg: str
    y: float
    bars: list[Bar]
    next_rotation: dt.datetime | None
    next_rotation_x: float | None


@dataclasses.dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    lanes: list[Lane]
    now_x: float
    start: dt.datetime
    end: dt.datetime
    ticks: list[tuple[float, str, str]]  # x, label, text-anchor


def build_timeline(
    keys: list[SigningKey],
    plans: dict[str, dict[str, dt.datetime]],
    schedules: dict[str, Schedule],
    now: dt.datetime,
) -> Timeline:
    # One full cycle ahead (the next rotation and the retired window after it), a quarter back.
    cycle = max(
        (s.rotate_every + s.retire_after for s in schedules.values()), default=dt.timedelta(1)
    )
    start, end = now - cycle / 4, now + cycle
    span = (end - start).total_seconds()
    usable = WIDTH - LABEL_WIDTH - 10

    def x_of(when: dt.datetime) -> float:
        when = min(max(when, start), end)
        return round(LABEL_WIDTH + usable * (when - start).total_seconds() / span, 1)

    lanes = []
    for index, alg in enumerate(sorted(schedules)):
        y = TOP + index * LANE_HEIGHT
        bars = []
        next_rotation = None
        for key in (k for k in keys if k.alg == alg):
            for state, begin, finish in _windows(key, plans.get(key.kid, {}), now):
                if finish <= start or begin >= end:
                    continue
                left, right = x_of(begin), x_of(finish)
                bars.append(Bar(left, y + (LANE_HEIGHT - BAR_HEIGHT) / 2, max(right - left, 2),
                                state, key.kid, begin, finish))  # fmt: skip
            if key.state == KeyState.ACTIVE and "retire" in plans.get(key.kid, {}):
                next_rotation = plans[key.kid]["retire"]
        lanes.append(Lane(alg, y, bars, next_rotation,
                          x_of(next_rotation) if next_rotation else None))  # fmt: skip
    ticks = [(x_of(start + (end - start) * i / 6), _short(start + (end - start) * i / 6),
              "start" if i == 0 else "end" if i == 6 else "middle") for i in range(7)]  # fmt: skip
    height = TOP + len(lanes) * LANE_HEIGHT + 30
    return Timeline(WIDTH, height, lanes, x_of(now), start, end, ticks)


def _windows(key: SigningKey, plan: dict[str, dt.datetime], now: dt.datetime):  # noqa: ANN202
    """(state, from, to) of each phase of a key, past and planned."""
    if key.state == KeyState.PENDING:
        yield "pending", key.created_at, plan.get("activate", now)
        if "activate" in plan:
            yield "active", plan["activate"], plan["activate"] + dt.timedelta(days=3650)
    elif key.state == KeyState.ACTIVE and key.activated_at is not None:
        retire = plan.get("retire", now)
        yield "active", key.activated_at, retire
        if "expire" in plan:
            yield "retired", retire, plan["expire"]
    elif key.state == KeyState.RETIRED and key.retired_at is not None:
        if key.activated_at is not None:
            yield "active", key.activated_at, key.retired_at
        yield "retired", key.retired_at, plan.get("expire", key.planned_expiry_at or now)


def _short(when: dt.datetime) -> str:
    return when.strftime("%d %b %H:%M")
