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
