"""/admin/audit: the audit trail, newest first, filtered by actor, event, time and subject; each
filtered view exports as JSON lines or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator

from flask import Response, make_response, render_template, request, stream_with_context

from authserver.admin.access import admin_page, paged
from authserver.admin.blueprint import bp
from authserver.audit.query import AuditFilter, audit_events
from authserver.audit.reading import ReadableEvent, readable
from authserver.models import AuditEvent, User
from authserver.platform.extensions import db
from authserver.rbac.permissions import Permission

EXPORT_LIMIT = 100_000
_BATCH = 1000


class BadFilter(ValueError):
    pass


def _moment(name: str) -> dt.datetime | None:
    """A datetime-local field, read as UTC (or with an explicit offset)."""
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadFilter(f"{name}: a date and time such as 2026-11-27T09:00") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _filter() -> AuditFilter:
    def text(name: str, limit: int = 200) -> str | None:
        value = (request.args.get(name) or "").strip()
        if len(value) > limit or "\x00" in value:
            raise BadFilter(f"{name}: at most {limit} characters")
        return value or None

    return AuditFilter(event=text("event", 64), actor=text("actor"), since=_moment("since"),
                       until=_moment("until"), subject=text("subject"))  # fmt: skip


def _row(event: ReadableEvent) -> dict:
    return {"id": event.id, "at": event.at.isoformat(), "event": event.event,
            "actor": event.actor, "actor_name": event.actor_name, "outcome": event.outcome,
            "data": event.data, "hash": event.hash}  # fmt: skip


@bp.get("/audit")
@admin_page(Permission.AUDIT_READ)
def audit(user: User) -> Response | str:
    try:
        where = _filter()
    except BadFilter as e:
        page = render_template("admin/audit.html", events=[], next_cursor=None, error=str(e),
                               args=request.args, export_query="")  # fmt: skip
        return make_response(page, 400)
    rows, cursor = paged(audit_events(where), AuditEvent.id, newest_first=True)
    filters = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template("admin/audit.html", events=readable(rows), next_cursor=cursor,
                           error=None,
                           args=request.args, export_query=filters)  # fmt: skip


@bp.get("/audit/export.<fmt>")
@admin_page(Permission.AUDIT_READ)
def audit_export(user: User, fmt: str) -> Response:
    if fmt not in ("jsonl", "csv"):
        return make_response(render_template("error.html", message="jsonl or csv."), 404)
    try:
        where = _filter()
    except BadFilter as e:
        return make_response(render_template("error.html", message=str(e)), 400)
    lines = _jsonl(where) if fmt == "jsonl" else _csv(where)
    mimetype = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    response = Response(stream_with_context(lines), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit.{fmt}"'
    return response


def _events(where: AuditFilter) -> Iterator[ReadableEvent]:
    """Oldest first, in batches (a long trail never sits in memory at once)."""
    last, sent = 0, 0
    while sent < EXPORT_LIMIT:
        batch = list(db.session.scalars(
            audit_events(where).where(AuditEvent.id > last).order_by(AuditEvent.id).limit(_BATCH)
        ))  # fmt: skip
        if not batch:
            return
        yield from readable(batch)
        sent += len(batch)
        last = batch[-1].id


def _jsonl(where: AuditFilter) -> Iterator[str]:
    for event in _events(where):
        yield json.dumps(_row(event), default=str, sort_keys=True) + "\n"


def _csv(where: AuditFilter) -> Iterator[str]:
    columns = ["id", "at", "event", "actor", "actor_name", "outcome", "data", "hash"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for event in _events(where):
        row = _row(event)
        row["data"] = json.dumps(row["data"], default=str, sort_keys=True)
        # A cell that a spreadsheet would run as a formula is quoted as text (CSV injection).
        writer.writerow([_cell(str(row[c])) for c in columns])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
