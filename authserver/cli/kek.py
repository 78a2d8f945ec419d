"""``authserver kek``: the key-encryption key."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.cli.output import json_option
from authserver.keys.kek import new_kek_text

group = AppGroup("kek", help="The key-encryption key.")


@group.command("generate", with_appcontext=False)  # a random number needs no server
def generate_command() -> None:
    """Print a new random KEK (base64 of 32 bytes) for AUTHSERVER_KEK."""
    click.echo(new_kek_text().decode().strip())


@group.command("rotate")
@json_option
def rotate_command(as_json: bool) -> None:
    """Re-wrap every private key, the pepper, TOTP and webhook secrets under the newest KEK.

    Development (key file): makes a new KEK and swaps it in after the re-wrap commits.
    With AUTHSERVER_KEK: set the new KEK there and the old one in AUTHSERVER_KEK_PREVIOUS,
    run this, then drop AUTHSERVER_KEK_PREVIOUS.
    """
    from authserver.cli.output import emit
    from authserver.keys.rewrap import rotate_kek
    from authserver.platform.runtime import current_runtime

    kek_id, count = rotate_kek(current_runtime().settings, actor="cli")
    value = {"kek_id": kek_id, "rewrapped": count}
    emit(value, as_json, f"{count} ciphertexts re-wrapped; current KEK {kek_id}")
