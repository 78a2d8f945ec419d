"""The revocation news counter: one row whose ``generation`` every revoking transaction on
PostgreSQL without Redis bumps (``authserver.platform.pg_news``), so that a process can tell,
with one cheap read, whether it missed a revocation's notification."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Integer
from sqlalchemy.orm import Mapped, mapped_column

from authserver.platform.extensions import db


class RevocationNews(db.Model):
    __tablename__ = "revocation_news"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
