"""``authserver retention``: prune what the retention settings allow, now (the scheduler does
the same every AUTHSERVER_RETENTION_CHECK_INTERVAL in each server process)."""

from __future__ import annotations

from flask.cli import AppGroup

from authserver.cli.output import emit, json_option, transaction
from authserver.platform.runtime import current_runtime
from authserver.privacy.retention import prune

group = AppGroup("retention", help="Retention of audit records, sessions and tokens' rows.")


@group.command("prune")
@json_option
def prune_command(as_json: bool) -> None:
    """Delete what retention allows (docs/data-protection.md); rows removed per table. Audit
    records are pruned behind a signed checkpoint: `audit verify` still passes."""
    with transaction():
        removed = prune(current_runtime().settings)
    text = "\n".join(f"{table}: {count}" for table, count in removed.items())
    emit(removed, as_json, text)
