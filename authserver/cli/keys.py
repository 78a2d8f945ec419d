"""``authserver keys``: the signing keys and their lifecycle."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.cli.output import emit, iso
from authserver.keys.service import list_keys

group = AppGroup("keys", help="Signing keys.")


@group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_command(as_json: bool) -> None:
    """Every key with its state and transition times (never private material)."""
    value = [
        {
            "kid": k.kid,
            "alg": k.alg,
            "state": k.state,
            "created_at": iso(k.created_at),
            "activated_at": iso(k.activated_at),
            "retired_at": iso(k.retired_at),
            "expired_at": iso(k.expired_at),
            "revoked_at": iso(k.revoked_at),
        }
        for k in list_keys()
    ]
    lines = [f"{k['alg']:8} {k['state']:8} {k['kid']}  created {k['created_at']}" for k in value]
    emit(value, as_json, "\n".join(lines) or "no keys")
