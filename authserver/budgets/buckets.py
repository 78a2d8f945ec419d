"""Token buckets, each tier of a budget kept as one number: GCRA (the generic cell rate
algorithm, ITU-T I.371), the form in which Redis-cell, Stripe's and Envoy's limiters keep theirs.

A tier with ``burst`` tokens refilling one every ``interval`` seconds is stored as ``tat``, the
time at which its bucket will be full again (0, or any time not later than now: full). Taking
``cost`` tokens at ``now`` moves it to ``max(tat, now) + cost * interval``; that is allowed while
the bucket would not be emptier than empty, ``tat' - now <= burst * interval``. So the tokens
left are ``(burst * interval - (tat - now)) / interval``, the bucket is full again after
``tat - now``, and a refused request may retry when enough tokens are back.

Four ways to charge a budget (a list of keys, each with its tiers):

- ``take``: all or nothing. Every tier of every key must allow it; otherwise nothing changes.
  Counting first and deciding on what the count says is what makes a budget hold under
  concurrency (two requests can never both see the last token).
- ``force``: counted whatever the state; ``over`` says how many tokens beyond the bucket it went
  (the sign-in slow-down grows with it).
- ``refund``: give back what a ``take`` took (a request that turned out not to be a failure).
- ``reset``: forget the key (a success that proves what the budget guards against).

These are pure functions: the host's shared table and the Lua script in ``store`` apply exactly
this arithmetic to what they hold, under their own atomicity.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence
from typing import NamedTuple

from authserver.platform.rates import MAX_TIERS, Rate

#: Float slack: a request exactly at the edge of its bucket is allowed.
EPSILON = 1e-9


class Mode(enum.StrEnum):
    TAKE = "take"
    FORCE = "force"
    REFUND = "refund"
    RESET = "reset"


@dataclasses.dataclass(frozen=True)
class Charge:
    """``cost`` tokens from every tier of ``key``'s budget."""

    key: str
    rates: tuple[Rate, ...]
    cost: int = 1

    def __post_init__(self) -> None:
        if len(self.rates) > MAX_TIERS:
            raise ValueError(f"at most {MAX_TIERS} tiers")


class TierState(NamedTuple):
    rate: Rate
    remaining: int  # whole tokens left after this charge
    reset_seconds: float  # until the bucket is full again
    retry_after: float  # refused: until the cost fits again; otherwise 0
    over: int  # force: tokens beyond the bucket; otherwise 0


class Verdict(NamedTuple):
    """What one charge found, tier by tier."""

    allowed: bool
    tiers: tuple[TierState, ...]

    @property
    def remaining(self) -> int:
        return min((t.remaining for t in self.tiers), default=0)

    @property
    def retry_after(self) -> float:
        return max((t.retry_after for t in self.tiers), default=0.0)

    @property
    def over(self) -> int:
        return max((t.over for t in self.tiers), default=0)

    @property
    def is_spent(self) -> bool:
        """No token left in some tier: the next charge will be refused."""
        return any(t.remaining == 0 for t in self.tiers)

    def limiting(self) -> TierState | None:
        """The tier that refused (the longest wait), or the emptiest one."""
        if not self.tiers:
            return None
        refused = [t for t in self.tiers if t.retry_after > 0]
        if refused:
            return max(refused, key=lambda t: t.retry_after)
        return min(self.tiers, key=lambda t: (t.remaining, -t.reset_seconds))


class Outcome(NamedTuple):
    allowed: bool
    verdicts: tuple[Verdict, ...]

    @property
    def retry_after(self) -> float:
        return max((v.retry_after for v in self.verdicts), default=0.0)


def _tier(
    tat: float, now: float, rate: Rate, cost: int, mode: Mode
) -> tuple[bool, float, float, int]:
    """(allowed, new tat, retry after, over) of one tier."""
    base = max(tat, now)
    if mode is Mode.TAKE:
        wanted = base + cost * rate.interval
        if wanted - now <= rate.capacity + EPSILON:
            return True, wanted, 0.0, 0
        return False, tat, wanted - now - rate.capacity, 0
    if mode is Mode.FORCE:
        new = base + cost * rate.interval
        beyond = (new - now - rate.capacity) / rate.interval
        return True, new, 0.0, math.ceil(beyond - EPSILON) if beyond > EPSILON else 0
    if mode is Mode.REFUND:
        return True, max(tat - cost * rate.interval, now) if tat > now else tat, 0.0, 0
    return True, 0.0, 0.0, 0


def tier_state(tat: float, now: float, rate: Rate, retry_after: float = 0.0,
               over: int = 0) -> TierState:  # fmt: skip
    pending = max(tat - now, 0.0)
    remaining = max(math.floor((rate.capacity - pending) / rate.interval + EPSILON), 0)
    return TierState(rate, remaining, pending, max(retry_after, 0.0), over)


def apply(
    states: Sequence[Sequence[float]], now: float, charges: Sequence[Charge], mode: Mode
) -> tuple[list[list[float]], Outcome]:
    """The new stored tats of each charge's key, and what the charge found. ``states[i]`` holds
    charge i's tats (missing tiers count as full). With ``take`` nothing changes unless every
    tier of every charge allows it."""
    planned = []
    for stored, charge in zip(states, charges, strict=True):
        tiers = []
        for index, rate in enumerate(charge.rates):
            tat = stored[index] if index < len(stored) else 0.0
            tiers.append((tat, *_tier(tat, now, rate, charge.cost, mode)))
        planned.append(tiers)
    allowed = all(ok for tiers in planned for _, ok, _, _, _ in tiers)
    new_states, verdicts = [], []
    for tiers, charge in zip(planned, charges, strict=True):
        kept = [new if allowed else old for old, _, new, _, _ in tiers]
        new_states.append(kept)
        verdicts.append(
            Verdict(
                all(ok for _, ok, _, _, _ in tiers),
                tuple(
                    tier_state(tat, now, rate, retry, over)
                    for tat, rate, (_, _, _, retry, over) in zip(
                        kept, charge.rates, tiers, strict=True
                    )
                ),
            )
        )
    return new_states, Outcome(allowed, tuple(verdicts))
