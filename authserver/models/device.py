"""Device authorizations (RFC 8628): a device waits, polling, while its user approves in a
browser. Both codes are stored as HMACs under the pepper."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class DeviceAuthorization(db.Model):
    __tablename__ = "device_authorizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(2000), default="")
    # RFC 8707: the resources (audiences) asked for; None: the default audience.
    resources: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    # RFC 8628 §3.5: the polling interval, raised by 5 s at each slow_down.
    interval_seconds: Mapped[int] = mapped_column(Integer, default=5)
    last_polled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # approved | denied, with who decided and how they had signed in.
    decision: Mapped[str | None] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sid: Mapped[str | None] = mapped_column(String(43))
    auth_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Tokens are issued once per approval.
    consumed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired_at(self, when: dt.datetime) -> bool:
        return when >= self.expires_at
