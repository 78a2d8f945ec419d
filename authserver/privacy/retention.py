"""Retention: what the server stops keeping, and when (docs/data-protection.md).

- audit records older than ``AUTHSERVER_AUDIT_RETENTION`` (off by default), pruned behind a
  signed checkpoint that keeps the chain verifiable (audit/pruning.py);
- sessions that ended or expired, ``AUTHSERVER_SESSION_RETENTION`` (90 days) after;
- the rows of tokens, codes and reset links that can no longer be used,
  ``AUTHSERVER_TOKEN_RETENTION`` (30 days) after their expiry; replay-detection rows (DPoP
  proofs, client assertions, revoked access tokens) and pushed requests once they expired;
- hourly usage counts older than ``AUTHSERVER_USAGE_RETENTION`` (400 days), and the gateway's
  usage (its hours summed into days after two days, the days kept as long);
- the webhook delivery log, ``AUTHSERVER_WEBHOOK_LOG_RETENTION`` (30 days).

``prune`` is the one job: run by the scheduler every ``AUTHSERVER_RETENTION_CHECK_INTERVAL``
in each process (idempotent), and by ``authserver retention prune``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_

from authserver.audit.pruning import prune_before
from authserver.models import (
    AuthorizationCode,
    DeviceAuthorization,
    DpopProof,
    GatewayUsage,
    PasswordReset,
    PushedRequest,
    RefreshToken,
    RevokedAccessToken,
    UsageCount,
    UsedAssertion,
    UserSession,
)
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.extensions import db
from authserver.usage import roll_up_gateway_usage
from authserver.webhooks import outbox

#: Rows that stop mattering at ``expires_at`` (a refresh token's is its family's end).
_SPENT_AT_EXPIRY = (RefreshToken, AuthorizationCode, DeviceAuthorization, PasswordReset)
#: Needed until expiry, not after: replay memory, and pushed requests (whose parameters may
#: carry a ``login_hint``, an email).
_REPLAY_MEMORY = (DpopProof, UsedAssertion, RevokedAccessToken, PushedRequest)


def prune(settings: Settings) -> dict[str, int]:
    """Delete what retention allows, in the caller's transaction; rows removed per table."""
    now = clock.now()
    removed: dict[str, int] = {}

    def before(seconds: int) -> dt.datetime:
        return now - dt.timedelta(seconds=seconds)

    if settings.audit_retention_seconds:
        removed["audit_events"] = prune_before(before(settings.audit_retention_seconds)).removed
    cutoff = before(settings.session_retention_seconds)
    ended = or_(UserSession.ended_at < cutoff, UserSession.expires_at < cutoff)
    removed["user_sessions"] = _delete(UserSession, ended)
    cutoff = before(settings.token_retention_seconds)
    for model in _SPENT_AT_EXPIRY:
        removed[model.__tablename__] = _delete(model, model.expires_at < cutoff)
    for model in _REPLAY_MEMORY:
        removed[model.__tablename__] = _delete(model, model.expires_at <= now)
    cutoff = before(settings.usage_retention_seconds)
    removed["usage_counts"] = _delete(UsageCount, UsageCount.hour < cutoff)
    removed["gateway_usage_hours_rolled_up"] = roll_up_gateway_usage(now)
    removed["gateway_usage"] = _delete(GatewayUsage, GatewayUsage.period_start < cutoff)
    removed["webhook_deliveries"] = outbox.prune(settings.webhook_log_retention_seconds)
    return removed


def _delete(model, condition) -> int:  # noqa: ANN001
    return db.session.execute(delete(model).where(condition)).rowcount
