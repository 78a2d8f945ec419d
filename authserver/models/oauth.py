"""Protocol artefacts that outlive a request: revoked access-token ids, used assertion ids."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.types import UTCDateTime


class RevokedAccessToken(db.Model):
    """A JWT access token revoked before its `exp` (RFC 7009); pruned once it has expired."""

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class UsedAssertion(db.Model):
    """A client-assertion `jti` already seen (RFC 7523 §3 item 7: replay protection)."""

    __tablename__ = "used_assertions"

    # "<client_id>:<jti>", so that two clients cannot collide.
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
