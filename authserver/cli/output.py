"""Output of CLI commands: with --json exactly one JSON value on stdout, else readable lines."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from authserver.platform.errors import AuthServerError


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


#: Every command that prints data takes it: exactly one JSON value on stdout instead of lines.
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON value.")


def emit(value: Any, as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(value, indent=None))
    else:
        click.echo(text)


def fail(error: AuthServerError) -> None:
    click.echo(f"error: {error.description}", err=True)
    sys.exit(1)


def split_multi(values: tuple[str, ...]) -> tuple[str, ...]:
    """Repeatable options may also be given once with space-separated values."""
    return tuple(v for value in values for v in value.split())


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """The command owns the transaction: commit on success; on a domain error roll back,
    print the error and exit 1."""
    from authserver.platform.extensions import (
        db,  # here: commands that need no database import this
    )

    try:
        yield
        db.session.commit()
    except AuthServerError as e:
        db.session.rollback()
        fail(e)
