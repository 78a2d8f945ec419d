"""Limits an API key or a client carries into the gateway and introspection: token buckets
(``rate_limit``, the rates syntax of ``platform.rates``, several tiers separated by ``;``) and a
usage quota (``quota_limit`` requests, refilled to the full amount each ``day`` or ``month`` at
00:00 UTC, or never).

The buckets live in the shared counters (``budgets.store``: this host's table, or Redis for
every instance, degrading as the budgets do). The quota is a column of the key's or client's
row, spent by one conditional UPDATE (``quota_remaining > 0``) whose row count decides, so two
instances on one database never both spend the last request; a refill is one conditional
UPDATE on the ``quota_resets_at`` it saw, so it happens once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

from sqlalchemy import update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.budgets.buckets import Charge, Verdict
from authserver.budgets.store import Counters
from authserver.models import ApiKey, Client
from authserver.platform import clock
from authserver.platform.errors import InvalidInput
from authserver.platform.extensions import db
from authserver.platform.rates import Rate, parse_rates, rates_text
from authserver.rbac.containment import Caller, require_can_act_on

QUOTA_PERIODS = ("day", "month")
MAX_QUOTA = 10**12


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a key or client is held to; ``rate_limit`` and ``quota_limit`` None: nothing."""

    rate_limit: str | None = None
    quota_limit: int | None = None
    quota_period: str | None = None

    def checked(self) -> Limits:
        text = (self.rate_limit or "").strip()
        try:
            rates = parse_rates(text) if text else ()
        except ValueError as e:
            raise InvalidInput(f"rate_limit: {e}") from None
        if self.quota_limit is not None and not 0 <= self.quota_limit <= MAX_QUOTA:
            raise InvalidInput(f"quota: 0 to {MAX_QUOTA} requests")
        if self.quota_period is not None and self.quota_period not in QUOTA_PERIODS:
            raise InvalidInput("quota_period: day, month, or none")
        if self.quota_period is not None and self.quota_limit is None:
            raise InvalidInput("quota_period: only with a quota")
        return Limits(rates_text(rates) if rates else None, self.quota_limit, self.quota_period)


def next_reset(period: str | None, now: dt.datetime) -> dt.datetime | None:
    """The next 00:00 UTC of a day, or of the first of a month; None when never refilled."""
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    if period == "month":
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return first.replace(year=first.year + 1, month=1) if first.month == 12 else (
            first.replace(month=first.month + 1))  # fmt: skip
    return None


def set_limits(owner: ApiKey | Client, limits: Limits, *, caller: Caller) -> None:
    """Give a key or client its limits; a new quota starts full. The caller may act on the
    key's owner, or the client, only if it holds no less than they do (no escalation)."""
    limits = limits.checked()
    principal = (owner.owner_user or owner.owner_client) if isinstance(owner, ApiKey) else owner
    require_can_act_on(caller, principal, action="changing the gateway limits of")
    quota_changed = (limits.quota_limit, limits.quota_period) != (
        owner.quota_limit, owner.quota_period)  # fmt: skip
    owner.rate_limit = limits.rate_limit
    owner.quota_limit, owner.quota_period = limits.quota_limit, limits.quota_period
    if quota_changed:
        owner.quota_remaining = limits.quota_limit
        owner.quota_resets_at = next_reset(limits.quota_period, clock.now())
    db.session.flush()
    if isinstance(owner, ApiKey):
        tag, named = Tag.APIKEY_LIMITS_CHANGED, {"key_id": owner.key_id}
    else:
        tag, named = Tag.CLIENT_LIMITS_CHANGED, {"client_id": owner.client_id}
    record(tag, actor=caller.actor, rate_limit=limits.rate_limit, quota=limits.quota_limit,
           quota_period=limits.quota_period, **named)  # fmt: skip


def limits_of(owner: ApiKey | Client) -> dict:
    """The limits and the quota's state, as the API and the CLI show them."""
    return {
        "rate_limit": owner.rate_limit,
        "quota": owner.quota_limit,
        "quota_period": owner.quota_period,
        "quota_remaining": owner.quota_remaining,
        "quota_resets_at": owner.quota_resets_at,
    }


# -- on a request -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _rates(text: str) -> tuple[Rate, ...]:
    return parse_rates(text)


def take_rate(counters: Counters, principal: str, rate_limit: str | None) -> Verdict | None:
    """One request from ``principal``'s buckets; None when it has none."""
    rates = _rates(rate_limit) if rate_limit else ()
    if not rates:
        return None
    return counters.take([Charge(f"gateway|{principal}", rates)]).verdicts[0]


@dataclasses.dataclass(frozen=True)
class QuotaState:
    allowed: bool
    limit: int
    remaining: int
    # None: the quota is never refilled.
    resets_at: dt.datetime | None

    def reset_seconds(self, now: dt.datetime) -> int | None:
        if self.resets_at is None:
            return None
        return max(1, int((self.resets_at - now).total_seconds() + 0.999))


def spend_quota(owner: type[ApiKey] | type[Client], ident: int | str) -> QuotaState | None:
    """One request of the quota of the key (by its row id) or the client (by its client_id)
    ``ident`` names; None without a quota.

    Runs on its own connection and commits at once: a decision is never rolled back, and a
    spent request stays spent whatever the request it came with does afterwards."""
    table = owner.__table__
    this = table.c.id == ident if owner is ApiKey else table.c.client_id == ident
    now = clock.now()
    with db.engine.begin() as conn:
        row = conn.execute(
            table.select()
            .with_only_columns(table.c.quota_limit, table.c.quota_period, table.c.quota_resets_at)
            .where(this)
        ).first()
        if row is None or row.quota_limit is None:
            return None
        resets_at = row.quota_resets_at
        if resets_at is not None and now >= resets_at:
            # The refill happens once: only the UPDATE that still sees the old reset time.
            renewed = next_reset(row.quota_period, now)
            conn.execute(
                update(table)
                .where(this, table.c.quota_resets_at == resets_at)
                .values(quota_remaining=row.quota_limit, quota_resets_at=renewed)
            )
            resets_at = renewed
        spent = conn.execute(
            update(table)
            .where(this, table.c.quota_remaining > 0)
            .values(quota_remaining=table.c.quota_remaining - 1)
            .returning(table.c.quota_remaining, table.c.quota_resets_at)
        ).first()
    if spent is None:
        return QuotaState(False, row.quota_limit, 0, resets_at)
    return QuotaState(True, row.quota_limit, spent.quota_remaining, spent.quota_resets_at)
