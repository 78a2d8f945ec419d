"""Pushed authorization requests (RFC 9126): the parameters a client sent to the PAR endpoint,
under a one-time ``request_uri`` (stored as an HMAC) that lives 60 seconds. And the DPoP proof
``jti``s recently seen (RFC 9449), for replay detection."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class PushedRequest(db.Model):
    __tablename__ = "pushed_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class DpopProof(db.Model):
    """DPoP proof ``jti``s seen recently (RFC 9449 §11.1), when Redis is not configured."""

    __tablename__ = "dpop_proofs"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
