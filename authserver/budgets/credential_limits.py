"""Limits an API key or a client carries, enforced wherever the credential is presented (the
gateway's decisions, introspection): token buckets (``rate_limit``, the rates syntax of
``platform.rates``) and a usage quota (``quota_limit`` requests, refilled to the full amount
each ``day`` or ``month`` at 00:00 UTC, or never).

The buckets live in the shared counters (``budgets.store``: this host's table, or Redis for
every instance, degrading as the budgets do), under one key per credential whichever door it
comes through. The quota is a column of the key's or client's row, spent by one conditional
UPDATE (``quota_remaining > 0``) whose row count decides, so two instances on one database
never both spend the last request; a refill is one conditional UPDATE on the
``quota_resets_at`` it saw, so it happens once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

from sqlalchemy import select, update

from authserver.budgets.buckets import Charge, Verdict
from authserver.budgets.fields import retry_after_seconds
from authserver.budgets.store import Counters
from authserver.models import ApiKey, Client
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.rates import Rate, parse_rates
from authserver.platform.token_types import EXCHANGED_KEY_CLAIM

QUOTA_PERIODS = ("day", "month")
ALLOWED = "allowed"
RATE_LIMITED = "rate_limited"
QUOTA_EXHAUSTED = "quota_exhausted"


def next_reset(period: str | None, now: dt.datetime) -> dt.datetime | None:
    """The next 00:00 UTC of a day, or of the first of a month; None when never refilled."""
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    if period == "month":
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return first.replace(year=first.year + 1, month=1) if first.month == 12 else (
            first.replace(month=first.month + 1))  # fmt: skip
    return None


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


@dataclasses.dataclass(frozen=True)
class Charged:
    """What one request cost a credential: ``outcome`` allowed, rate_limited or
    quota_exhausted; the buckets' verdict and the quota's state, for the response fields."""

    outcome: str
    verdict: Verdict | None
    quota: QuotaState | None
    retry_after: int | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOWED


def charge(
    counters: Counters,
    principal: str,
    rate_limit: str | None,
    quota_of: tuple[type[ApiKey] | type[Client], int | str] | None,
) -> Charged:
    """The credential's buckets, then its quota; allowed only if both have room (a refused
    bucket spends no quota)."""
    verdict = take_rate(counters, principal, rate_limit)
    if verdict is not None and not verdict.allowed:
        return Charged(RATE_LIMITED, verdict, None, retry_after_seconds(verdict.retry_after))
    quota = spend_quota(*quota_of) if quota_of is not None else None
    if quota is not None and not quota.allowed:
        return Charged(QUOTA_EXHAUSTED, verdict, quota, quota.reset_seconds(clock.now()))
    return Charged(ALLOWED, verdict, quota)


def limits_of(key, client_id: str | None, runtime):  # noqa: ANN001, ANN201
    """(rate limit, what quota to spend or None) of an API key (``PresentedKey``) or, for a
    token, of its client (from the runtime's client cache)."""
    if key is not None:
        return key.rate_limit, ((ApiKey, key.id) if key.quota_limit is not None else None)
    client = runtime.clients.get(client_id) if client_id else None
    if client is None:
        return None, None
    return client.rate_limit, ((Client, client.client_id) if client.quota_limit is not None
                               else None)  # fmt: skip


def token_principal(claims: dict) -> str:
    """Whom a token's usage and limits count against: the API key it was exchanged for, or
    its client."""
    key_id = claims.get(EXCHANGED_KEY_CLAIM)
    return f"apikey:{key_id}" if isinstance(key_id, str) else f"client:{claims['client_id']}"


def token_limits(claims: dict, runtime):  # noqa: ANN001, ANN201
    """(whose buckets, rate limit, quota) for an access token: an exchanged key's own limits
    when it has any (read from its row, so that exchanging a key never escapes its quota),
    else its client's, so that exchanging a key is no way around the client's either."""
    key_id = claims.get(EXCHANGED_KEY_CLAIM)
    if isinstance(key_id, str):
        row = db.session.execute(
            select(ApiKey.id, ApiKey.rate_limit, ApiKey.quota_limit).where(ApiKey.key_id == key_id)
        ).first()
        if row is not None and (row.rate_limit is not None or row.quota_limit is not None):
            quota = (ApiKey, row.id) if row.quota_limit is not None else None
            return f"apikey:{key_id}", row.rate_limit, quota
    client_id = claims["client_id"]
    return (f"client:{client_id}", *limits_of(None, client_id, runtime))


def limit_state(charged: Charged) -> dict:
    """The limits' state after an allowed request, as introspection answers it."""
    state: dict = {}
    if charged.verdict is not None:
        state["rate_limit_remaining"] = charged.verdict.remaining
    if charged.quota is not None:
        state["quota"] = charged.quota.limit
        state["quota_remaining"] = charged.quota.remaining
        if charged.quota.resets_at is not None:
            state["quota_resets_at"] = int(charged.quota.resets_at.timestamp())
    return state
