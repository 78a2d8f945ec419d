"""Setting the limits an API key or a client carries (budgets/credential_limits.py enforces
them): checked, with no escalation, audited; a changed quota starts full."""

from __future__ import annotations

import dataclasses

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.budgets.credential_limits import QUOTA_PERIODS, next_reset
from authserver.models import ApiKey, Client
from authserver.platform import clock
from authserver.platform.errors import InvalidInput
from authserver.platform.extensions import db
from authserver.platform.rates import parse_rates, rates_text
from authserver.rbac.containment import Caller, require_can_act_on

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
