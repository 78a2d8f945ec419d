"""/admin: the signing-key timeline, the last day's tokens and failed sign-ins, and API keys that
expire soon."""

from __future__ import annotations

import datetime as dt

from flask import render_template
from sqlalchemy import func, select

from authserver.admin.access import admin_page
from authserver.admin.blueprint import bp
from authserver.admin.timeline import build_timeline
from authserver.apikeys.service import expiring_keys
from authserver.keys.schedule import load_schedules
from authserver.keys.service import list_keys
from authserver.keys.timeline import planned_transitions
from authserver.models import AuditEvent, User
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.rbac.permissions import Permission
from authserver.usage import TOKENS_ISSUED, count_since

_FAILED_SIGN_INS = ("account:sign-in:failed", "account:mfa:failed")


def _count_since(events: tuple[str, ...], since: dt.datetime) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event.in_(events), AuditEvent.at >= since)
    )


@bp.get("")
@admin_page(Permission.KEYS_READ)
def overview(user: User) -> str:
    settings = current_settings()
    now = clock.now()
    keys = [k for k in list_keys() if k.state in ("pending", "active", "retired")]
    schedules = load_schedules(settings)
    timeline = build_timeline(keys, planned_transitions(schedules, keys), schedules, now)
    day_ago = now - dt.timedelta(hours=24)
    tokens = count_since(TOKENS_ISSUED, day_ago)
    return render_template(
        "admin/overview.html",
        timeline=timeline,
        tokens_issued=tokens,
        failed_sign_ins=_count_since(_FAILED_SIGN_INS, day_ago),
        expiring=expiring_keys(dt.timedelta(days=14)),
        now=now,
    )
