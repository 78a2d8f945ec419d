"""``authserver audit``: check the hash chain of the audit trail; read its newest records."""

from __future__ import annotations

import json
import sys
import time

import click
from flask.cli import AppGroup
from sqlalchemy import select

from authserver.audit.chain import verify
from authserver.audit.reading import ReadableEvent, readable
from authserver.cli.output import emit, json_option
from authserver.models import AuditEvent
from authserver.platform.extensions import db

group = AppGroup("audit", help="The audit trail.")


@group.command("verify")
@json_option
def verify_command(as_json: bool) -> None:
    """Walk the hash chain; exit 1 and name the first broken link if any record was changed,
    removed or inserted."""
    verdict = verify()
    value = {"intact": verdict.intact, "checked": verdict.checked, "pruned": verdict.pruned,
             "broken_at": None if verdict.intact else verdict.broken_at,
             "reason": None if verdict.intact else verdict.reason}  # fmt: skip
    if verdict.intact:
        behind = f" ({verdict.pruned} of them pruned behind a signed checkpoint)"
        emit(value, as_json, f"{verdict.checked} records, chain intact"
             + (behind if verdict.pruned else ""))  # fmt: skip
        return
    where = "at the end" if verdict.broken_at == -1 else f"at record {verdict.broken_at}"
    if as_json:
        emit(value, True, "")
    else:
        click.echo(f"chain broken {where}: {verdict.reason} ({verdict.checked} records before "
                   "it are intact)", err=True)  # fmt: skip
    sys.exit(1)


@group.command("tail")
@click.option("-n", "count", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--follow", is_flag=True, help="Keep printing new records as they are written.")
def tail_command(count: int, follow: bool) -> None:
    """The newest records, oldest first, one JSON object a line."""
    rows = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(count)))
    last_id = rows[0].id if rows else 0
    for row in readable(reversed(rows)):
        _print(row)
    while follow:
        db.session.rollback()  # a fresh snapshot: see what other processes committed
        for row in readable(db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id)
        )):  # fmt: skip
            _print(row)
            last_id = row.id
        time.sleep(1)


def _print(row: ReadableEvent) -> None:
    record = {
        "id": row.id, "at": row.at.isoformat(), "event": row.event, "actor": row.actor,
        "actor_name": row.actor_name, "outcome": row.outcome, **row.data,
    }  # fmt: skip
    click.echo(json.dumps(record, sort_keys=True), nl=True)
    sys.stdout.flush()
