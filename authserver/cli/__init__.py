"""The ``authserver`` command: one sub-command or group per noun, each imported only when it
runs, and the app built only by the commands that need it (``flask.cli.with_appcontext``)."""

from __future__ import annotations

import importlib
import sys

import click
from flask.cli import ScriptInfo

from authserver.platform.config import ConfigError

# name → (module, attribute, the one-line help `authserver --help` shows without importing it;
# tests/test_cli.py checks each against the command's own).
COMMANDS = {
    "apikeys": ("authserver.cli.apikeys", "group", "API keys."),
    "audit": ("authserver.cli.audit", "group", "The audit trail."),
    "clients": ("authserver.cli.clients", "group", "OAuth clients."),
    "db": ("authserver.cli.db", "group", "The database schema (migrations)."),
    "doctor": ("authserver.cli.doctor", "doctor_command",
               "Check the settings against what production requires, and that the database and "
               "key files are private; exit 1 if any check fails."),
    "gateway": ("authserver.cli.gateway", "group",
                "The API gateway's decision endpoint: rules and limits."),
    "init": ("authserver.cli.init", "init_command",
             "Create or upgrade everything the server needs (idempotent)."),
    "kek": ("authserver.cli.kek", "group", "The key-encryption key."),
    "keys": ("authserver.cli.keys", "group", "Signing keys."),
    "retention": ("authserver.cli.retention", "group",
                  "Retention of audit records, sessions and tokens' rows."),
    "roles": ("authserver.cli.roles", "group", "Roles and their assignments."),
    "serve": ("authserver.cli.serve", "serve_command",
              "Serve HTTP with Granian (worker processes, keep-alive), or HTTPS with --certfile."),
    "users": ("authserver.cli.users", "group", "User accounts."),
    "webhooks": ("authserver.cli.webhooks", "group",
                 "Security-event webhooks (Standard Webhooks)."),
}  # fmt: skip


def _create_app():  # noqa: ANN202
    from authserver.app import create_app

    return create_app()


class Commands(click.Group):
    """Sub-commands imported on use (the pattern in click's documentation, "Lazily Loading
    Subcommands"), so that `--help`, `--version` and `serve` do not pay for the whole server."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)  # as click.Group does
        with formatter.section("Commands"):
            formatter.write_dl([(name, _summary(name).get_short_help_str(limit)) for name in names])

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_repeated_options(self, ctx, args)
        return super().parse_args(ctx, args)

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: ANN001, ANN201
        # with_appcontext builds the app from the ScriptInfo (FlaskCliRunner brings its own).
        extra.setdefault("obj", ScriptInfo(create_app=_create_app, set_debug_flag=False))
        return super().make_context(info_name, args, parent, **extra)


def refuse_repeated_options(group: click.Group, ctx: click.Context, args: list[str]) -> None:
    """An option that takes one value, given twice, is a usage error: click would keep the last
    and drop the first without a word (`--name a --name b`). Repeatable options say so
    (``multiple=True``) and are left alone."""
    command: click.Command = group
    words = list(args)
    while isinstance(command, click.Group):
        names = [w for w in words if not w.startswith("-")]
        if not names:
            return
        command = command.get_command(ctx, names[0])
        if command is None:
            return  # click reports the unknown command
        words = words[words.index(names[0]) + 1 :]
    single = {
        opt: param
        for param in command.params
        if isinstance(param, click.Option) and not param.multiple and not param.count
        for opt in param.opts
    }
    seen: dict[str, str] = {}
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word == "--":
            break
        opt, has_value, _ = word.partition("=")
        param = single.get(opt)
        if param is None:
            continue
        if param.name in seen:
            raise click.UsageError(
                f"{opt} was given more than once; it takes one value", ctx=ctx
            )  # fmt: skip
        seen[param.name] = opt
        skip = not param.is_flag and not has_value


def _summary(name: str) -> click.Command:
    """A stand-in holding the command's summary, shortened to the width as click does."""
    return click.Command(name, help=COMMANDS[name][2])


@click.group(cls=Commands)
@click.version_option(package_name="authserver", prog_name="authserver")
def cli() -> None:
    """authserver: an OAuth 2.0 / OpenID Connect authorization server."""


def main() -> None:
    try:
        cli.main(prog_name="authserver")
    except ConfigError as e:
        click.echo(f"configuration error: {e}", err=True)
        sys.exit(2)
    except Exception as e:
        message = _operator_message(e)
        if message is None:
            raise
        click.echo(message, err=True)
        sys.exit(2)


def _operator_message(error: Exception) -> str | None:
    """What an operator must fix for the errors that are the deployment's, not a bug; the
    libraries are looked at only when they were loaded (a command that needs none never does)."""
    kek = sys.modules.get("authserver.keys.kek")
    if kek is not None and isinstance(error, kek.KekError):
        return f"key-encryption key error: {error}"
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is not None and isinstance(error, exc.OperationalError | exc.ProgrammingError):
        return f"database error ({type(error.orig).__name__}): {_database_problem(error)}"
    return None


# A table that is not there: the schema was never made (SQLite's message, PostgreSQL's class).
_NO_TABLE = ("no such table", "UndefinedTable")


def _database_problem(error) -> str:  # noqa: ANN001 - sqlalchemy.exc, imported only if used
    """Which of the two an operator must fix; never the driver's text, which may hold the URL."""
    from sqlalchemy.exc import OperationalError

    said = f"{type(error.orig).__name__} {error.orig}"
    if any(sign in said for sign in _NO_TABLE):
        return "the database has no schema yet; run `authserver init`"
    if isinstance(error, OperationalError):
        return "the database cannot be reached or opened; check AUTHSERVER_DATABASE_URL"
    return "the database refused a statement; has `authserver init` (or `db upgrade`) run?"
