"""``authserver kek``: the key-encryption key."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.cli.output import emit
from authserver.extensions import db
from authserver.keys.kek import Envelope, FileKekSource, kek_source_for, new_kek_text
from authserver.keys.rewrap import rewrap_all
from authserver.runtime import current_runtime

group = AppGroup("kek", help="The key-encryption key.")


@group.command("generate")
def generate_command() -> None:
    """Print a new random KEK (base64 of 32 bytes) for AUTHSERVER_KEK."""
    click.echo(new_kek_text().decode().strip())


@group.command("rotate")
@click.option("--json", "as_json", is_flag=True)
def rotate_command(as_json: bool) -> None:
    """Re-wrap every private key, the pepper, TOTP and webhook secrets under the newest KEK.

    Development (key file): makes a new KEK and swaps it in after the re-wrap commits.
    With AUTHSERVER_KEK: set the new KEK there and the old one in AUTHSERVER_KEK_PREVIOUS,
    run this, then drop AUTHSERVER_KEK_PREVIOUS.
    """
    settings = current_runtime().settings
    source = kek_source_for(settings)
    if isinstance(source, FileKekSource):
        new = source.begin_rotation()
        envelope = Envelope([new, *source.keks()])
    else:
        envelope = Envelope(source.keks())
    count = rewrap_all(envelope)
    record(Tag.KEK_ROTATED, actor="cli", kek_id=envelope.current_kek_id, rewrapped=count)
    db.session.commit()
    if isinstance(source, FileKekSource):
        source.finish_rotation()
    value = {"kek_id": envelope.current_kek_id, "rewrapped": count}
    emit(value, as_json, f"{count} ciphertexts re-wrapped; current KEK {envelope.current_kek_id}")
