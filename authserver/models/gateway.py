"""The gateway's route rules (``/gateway/check``) and its usage counts by principal and outcome.

A rule matches a request by host, path and method; the first enabled rule by ``position`` that
matches decides (no match: deny). Usage is counted per hour, and hours older than two days are
rolled up into days (``granularity`` "hour" or "day"), so storage stays bounded per principal.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class GatewayRule(db.Model):
    __tablename__ = "gateway_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, index=True)
    # "" matches any host; "api.example.com", or "*.example.com" for its subdomains.
    host: Mapped[str] = mapped_column(String(255), default="")
    # A prefix ("/orders/"), or a pattern when it holds "*" (one segment) or "**" (any).
    path: Mapped[str] = mapped_column(String(1000), default="/")
    # Upper-case method names; empty: any method.
    methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "all": every scope of ``scopes`` is needed; "any": one of them is enough.
    scope_match: Mapped[str] = mapped_column(String(8), default="all")
    # Of "jwt", "dpop", "api_key", "anonymous".
    credentials: Mapped[list[str]] = mapped_column(JSON, default=list)
    # RFC 9068 §4: a JWT must name this audience (None: any of this server's tokens).
    audience: Mapped[str | None] = mapped_column(String(2000))
    # Hand the upstream a short-lived signed JWT of the identity (X-Auth-Token).
    forward_token: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class GatewayUsage(db.Model):
    __tablename__ = "gateway_usage"

    granularity: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_start: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)
    # "apikey:<key id>" or "client:<client id>".
    principal: Mapped[str] = mapped_column(String(300), primary_key=True)
    # allowed, denied_scope, rate_limited, quota_exhausted, invalid.
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
