"""``authserver db``: the database schema, for operators (Alembic's authoring commands, such as
``revision`` and ``stamp``, are for developers: ``flask --app authserver.app:create_app db``)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from authserver.platform.config import MIGRATIONS_DIR

group = AppGroup("db", help="The database schema (migrations).")


@group.command("upgrade")
def upgrade_command() -> None:
    """Apply every migration not applied yet (`init` does this too)."""
    from flask_migrate import upgrade

    upgrade(directory=str(MIGRATIONS_DIR))
    click.echo("the database schema is up to date", err=True)


@group.command("current")
def current_command() -> None:
    """The revision the database is at."""
    from flask_migrate import current

    current(directory=str(MIGRATIONS_DIR))


@group.command("history")
def history_command() -> None:
    """Every migration, newest first."""
    from flask_migrate import history

    history(directory=str(MIGRATIONS_DIR))
