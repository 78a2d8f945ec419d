"""Audit event tags, ``source:subject:action``."""

from __future__ import annotations

import enum


class Tag(enum.StrEnum):
    KEY_CREATED = "key:signing:created"
    KEY_ACTIVATED = "key:signing:activated"
    KEY_RETIRED = "key:signing:retired"
    KEY_EXPIRED = "key:signing:expired"
    KEY_REVOKED = "key:signing:revoked"
    KEY_SCHEDULE_CHANGED = "key:schedule:changed"
    KEK_ROTATED = "key:kek:rotated"
    APIKEY_CREATED = "apikey:key:created"
    APIKEY_ROTATED = "apikey:key:rotated"
    APIKEY_REVOKED = "apikey:key:revoked"
    APIKEY_EXPIRING = "apikey:key:expiring"
    USER_DISABLED = "account:user:disabled"
    CLIENT_DISABLED = "client:client:disabled"
    ROLE_CREATED = "rbac:role:created"
    ROLE_GRANTED = "rbac:role:granted"
    ROLE_REVOKED = "rbac:role:revoked"
