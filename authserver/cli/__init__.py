"""The ``authserver`` command: a Flask CLI group with one sub-group per noun."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup
from sqlalchemy.exc import OperationalError, ProgrammingError

from authserver.config import ConfigError
from authserver.keys.kek import KekError


def _create_app():  # noqa: ANN202
    from authserver.app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False)  # fmt: skip
# Ours, not Flask's: FlaskGroup's --version names Flask's and Python's versions.
@click.version_option(package_name="authserver", prog_name="authserver")
def cli() -> None:
    """authserver: an OAuth 2.0 / OpenID Connect authorization server."""


# Flask's own --app, --env-file and --debug are for `flask run`: this command builds its one
# app itself and is configured by AUTHSERVER_* variables.
cli.params = [p for p in cli.params if p.name not in {"app", "env_file", "debug"}]


def _register() -> None:
    from authserver.cli import (
        apikeys,
        audit,
        clients,
        doctor,
        init,
        kek,
        keys,
        roles,
        serve,
        users,
        webhooks,
    )  # fmt: skip

    cli.add_command(init.init_command)
    cli.add_command(serve.serve_command)
    cli.add_command(clients.group)
    cli.add_command(users.group)
    cli.add_command(keys.group)
    cli.add_command(kek.group)
    cli.add_command(apikeys.group)
    cli.add_command(roles.group)
    cli.add_command(audit.group)
    cli.add_command(webhooks.group)
    cli.add_command(doctor.doctor_command)


_register()


def main() -> None:
    try:
        cli.main(prog_name="authserver")
    except ConfigError as e:
        click.echo(f"configuration error: {e}", err=True)
        sys.exit(2)
    except KekError as e:
        click.echo(f"key-encryption key error: {e}", err=True)
        sys.exit(2)
    except (OperationalError, ProgrammingError) as e:
        click.echo(f"database error ({type(e.orig).__name__}): {_database_problem(e)}", err=True)
        sys.exit(2)


# A table that is not there: the schema was never made (SQLite's message, PostgreSQL's class).
_NO_TABLE = ("no such table", "UndefinedTable")


def _database_problem(error: OperationalError | ProgrammingError) -> str:
    """Which of the two an operator must fix; never the driver's text, which may hold the URL."""
    said = f"{type(error.orig).__name__} {error.orig}"
    if any(sign in said for sign in _NO_TABLE):
        return "the database has no schema yet; run `authserver init`"
    if isinstance(error, OperationalError):
        return "the database cannot be reached or opened; check AUTHSERVER_DATABASE_URL"
    return "the database refused a statement; has `authserver init` (or `db upgrade`) run?"
