"""Audit event tags, ``source:subject:action``."""

from __future__ import annotations

import enum


class Tag(enum.StrEnum):
    KEY_CREATED = "key:signing:created"
    KEY_ACTIVATED = "key:signing:activated"
    KEY_EXPEDITED = "key:signing:expedited"
    KEY_RETIRED = "key:signing:retired"
    KEY_EXPIRED = "key:signing:expired"
    KEY_REVOKED = "key:signing:revoked"
    KEY_SCHEDULE_CHANGED = "key:schedule:changed"
    KEK_ROTATED = "key:kek:rotated"
    # The first record after a pruning: it stands for every record before it (audit/pruning.py).
    AUDIT_CHECKPOINT = "audit:chain:checkpoint"
    AUDIT_PRUNED = "audit:chain:pruned"
    AUDIT_RESEALED = "audit:chain:resealed"
    APIKEY_CREATED = "apikey:key:created"
    APIKEY_ROTATED = "apikey:key:rotated"
    APIKEY_REVOKED = "apikey:key:revoked"
    APIKEY_EXPIRING = "apikey:key:expiring"
    APIKEY_LIMITS_CHANGED = "apikey:limits:changed"
    CLIENT_LIMITS_CHANGED = "client:limits:changed"
    GATEWAY_RULE_CREATED = "gateway:rule:created"
    GATEWAY_RULE_UPDATED = "gateway:rule:updated"
    GATEWAY_RULE_DELETED = "gateway:rule:deleted"
    GATEWAY_RULES_REPLACED = "gateway:rules:replaced"
    # Once an hour per process with denials: how many requests each rule denied, by outcome.
    GATEWAY_DENIALS = "gateway:decisions:denied"
    USER_DISABLED = "account:user:disabled"
    CLIENT_CREATED = "client:client:created"
    CLIENT_UPDATED = "client:client:updated"
    CLIENT_DISABLED = "client:client:disabled"
    CLIENT_SECRET_ROTATED = "client:secret:rotated"  # noqa: S105 - an event name
    USER_CREATED = "account:user:created"
    USER_UPDATED = "account:user:updated"
    PASSWORD_SET = "account:password:set"  # noqa: S105 - an event name
    PERSON_EXPORTED = "account:data:exported"
    PERSON_ERASED = "account:data:erased"
    PASSWORD_RESET_REQUESTED = "account:password-reset:requested"  # noqa: S105 - an event name
    PASSWORD_LINK_ISSUED = "account:password-link:issued"  # noqa: S105 - an event name
    ROLE_CREATED = "rbac:role:created"
    ROLE_UPDATED = "rbac:role:updated"
    ROLE_DELETED = "rbac:role:deleted"
    ROLE_GRANTED = "rbac:role:granted"
    ROLE_REVOKED = "rbac:role:revoked"
    ESCALATION_REFUSED = "rbac:escalation:refused"
    SIGN_IN_SUCCEEDED = "account:sign-in:succeeded"
    SIGN_IN_FAILED = "account:sign-in:failed"
    # A failure budget ran out (effect "refused": its failures now get 429) or an account's
    # sign-ins from unknown devices began to be slowed (effect "slowed").
    LOCKOUT_STARTED = "ratelimit:lockout:started"
    SESSION_STARTED = "account:session:started"
    SESSION_ENDED = "account:session:ended"
    CONSENT_GRANTED = "oauth:consent:granted"
    CONSENT_WITHDRAWN = "oauth:consent:withdrawn"
    DEVICE_DECIDED = "oauth:device:decided"
    BACKCHANNEL_LOGOUT = "oauth:backchannel-logout:sent"
    TOKEN_ISSUED = "oauth:token:issued"  # noqa: S105 - an event name
    TOKEN_REVOKED = "oauth:token:revoked"  # noqa: S105 - an event name
    CODE_REPLAYED = "oauth:code:replayed"
    REFRESH_REUSED = "oauth:refresh-token:reused"
    MFA_TOTP_ENROLLED = "account:mfa-totp:enrolled"
    MFA_TOTP_REMOVED = "account:mfa-totp:removed"
    MFA_PASSKEY_ADDED = "account:mfa-passkey:added"
    MFA_PASSKEY_REMOVED = "account:mfa-passkey:removed"
    MFA_PASSKEY_SIGN_COUNT_REGRESSED = "account:mfa-passkey:sign-count-regressed"
    MFA_RECOVERY_CODES_ISSUED = "account:mfa-recovery-codes:issued"
    MFA_RECOVERY_CODE_USED = "account:mfa-recovery-code:used"
    MFA_SUCCEEDED = "account:mfa:succeeded"
    MFA_FAILED = "account:mfa:failed"
    MFA_RESET = "account:mfa:reset"
    WEBHOOK_CREATED = "webhook:subscription:created"
    WEBHOOK_UPDATED = "webhook:subscription:updated"
    WEBHOOK_DISABLED = "webhook:subscription:disabled"
    WEBHOOK_DELETED = "webhook:subscription:deleted"
    WEBHOOK_TESTED = "webhook:subscription:tested"
    WEBHOOK_SECRET_ROTATED = "webhook:secret:rotated"  # noqa: S105 - an event name
