"""Rates as the settings and the client quotas write them.

``N/period`` (``30/minute``, ``10/15minutes``, ``5 per hour``; the ``limits`` library's syntax)
is a bucket of N that refills N per period; `` burst B`` makes the bucket B instead
(``600/minute burst 100``: 10 a second on average, at most 100 at once). Several rates separated
by ``;`` all apply (``5/minute;50/day``); at most four. ``off`` is none.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re

MAX_TIERS = 4
_BURST = re.compile(r"^(?P<rate>.+?)\s+burst\s+(?P<burst>\d+)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Rate:
    """``amount`` per ``period_seconds``, in a bucket of ``burst``."""

    amount: int
    period_seconds: float
    burst: int

    @functools.cached_property
    def interval(self) -> float:
        """Seconds per token: the bucket refills one token every interval."""
        return self.period_seconds / self.amount

    @functools.cached_property
    def capacity(self) -> float:
        """A full bucket as time: how long an empty one takes to fill."""
        return self.burst * self.interval

    @property
    def window_seconds(self) -> int:
        """The RateLimit-Policy ``w``: the time in which ``burst`` requests may be made."""
        return max(1, math.ceil(self.capacity))

    def __str__(self) -> str:
        text = f"{self.amount}/{_period_text(self.period_seconds)}"
        return text if self.burst == self.amount else f"{text} burst {self.burst}"


def _period_text(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count}{unit}s"
    return f"{int(seconds)}seconds" if seconds != 1 else "second"


def parse_rates(text: str) -> tuple[Rate, ...]:
    """The rates of a setting; raises ValueError on anything else. ``off`` is ()."""
    from limits import parse

    text = (text or "").strip()
    if text.lower() == "off":
        return ()
    rates = []
    for part in re.split(r"\s*;\s*", text):
        if not part:
            continue
        match = _BURST.match(part)
        rate_text, burst = (match["rate"], int(match["burst"])) if match else (part, None)
        try:
            item = parse(rate_text.strip())
        except ValueError:
            raise ValueError(f"not a rate: {part!r} (such as 30/minute)") from None
        if item.amount <= 0:
            raise ValueError(f"not a rate: {part!r} (the amount must be positive)")
        if burst is not None and burst <= 0:
            raise ValueError(f"not a rate: {part!r} (the burst must be positive)")
        rates.append(Rate(item.amount, float(item.get_expiry()), burst or item.amount))
    if not rates:
        raise ValueError("no rate (such as 30/minute, or off)")
    if len(rates) > MAX_TIERS:
        raise ValueError(f"at most {MAX_TIERS} rates")
    return tuple(rates)


def rates_text(rates: tuple[Rate, ...]) -> str:
    return ";".join(str(rate) for rate in rates) if rates else "off"
