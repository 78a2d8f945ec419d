"""/api/v1/audit-events: the security events, newest last, filtered and paged."""

from __future__ import annotations

from authserver.api.v1.framework import Principal, operation
from authserver.api.v1.schemas import AuditEventList, AuditEventOut, AuditQuery
from authserver.audit.query import AuditFilter, audit_events
from authserver.audit.reading import ReadableEvent, readable
from authserver.models import AuditEvent
from authserver.rbac.permissions import Permission
from authserver.web.paging import page

TAG = "audit"


def event_out(row: ReadableEvent) -> AuditEventOut:
    return AuditEventOut(
        id=row.id, at=row.at, event=row.event, actor=row.actor, actor_name=row.actor_name,
        outcome=row.outcome, data=row.data,
    )  # fmt: skip


@operation(
    "GET", "/audit-events", summary="Security events, filtered by event, actor and time",
    tag=TAG, permission=Permission.AUDIT_READ, query=AuditQuery, response=AuditEventList,
)  # fmt: skip
def list_events(principal: Principal, query: AuditQuery) -> AuditEventList:
    statement = audit_events(
        AuditFilter(event=query.event, actor=query.actor, since=query.since, until=query.until)
    )
    rows, next_cursor = page(statement, AuditEvent.id, query, to_item=lambda row: row)
    return AuditEventList(items=[event_out(e) for e in readable(rows)], next_cursor=next_cursor)
