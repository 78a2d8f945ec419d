"""The one clock every rule reads, so that tests can move time instead of sleeping."""

from __future__ import annotations

import datetime as dt
import time

_offset = dt.timedelta(0)
_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """Timezone-aware UTC now, as seen by the server's rules."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.UTC) + _offset


def timestamp() -> int:
    """Seconds since the epoch, for JWT claims."""
    return int(now().timestamp())


def sleep_until(when: dt.datetime) -> None:
    """Wait until ``when`` on this clock: really, or, with the clock frozen (tests), by moving
    it there, so that nothing sleeps to wait for a planned moment."""
    global _frozen
    if _frozen is not None:
        _frozen = max(_frozen, when)
        return
    remaining = (when - now()).total_seconds()
    if remaining > 0:
        time.sleep(remaining)


def freeze(at: dt.datetime | None = None) -> None:
    """Stop the clock (tests only)."""
    global _frozen
    _frozen = at if at is not None else now()


def advance(seconds: float) -> None:
    """Move the clock forward (tests only)."""
    global _offset, _frozen
    delta = dt.timedelta(seconds=seconds)
    if _frozen is not None:
        _frozen += delta
    else:
        _offset += delta


def reset() -> None:
    global _offset, _frozen
    _offset = dt.timedelta(0)
    _frozen = None
