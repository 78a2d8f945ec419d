"""``authserver init``: database schema, KEK (development), pepper, built-in roles, one active
key per algorithm; with ``--demo`` a demo admin and a demo client, their secrets printed once."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

import click
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import text

from authserver.accounts.service import create_user, find_user
from authserver.audit.reseal import reseal_legacy_records
from authserver.clients.service import NewClient, create_client, find_client_by_name
from authserver.keys.kek import FileKekSource, kek_source_for
from authserver.keys.lifecycle import run_due_transitions
from authserver.keys.pepper import ensure_pepper
from authserver.keys.schedule import ensure_schedules
from authserver.platform.config import MIGRATIONS_DIR, ConfigError, Settings
from authserver.platform.extensions import db
from authserver.platform.private_files import create_private_file, make_private_dir
from authserver.platform.runtime import current_runtime
from authserver.platform.security import generate_secret
from authserver.rbac.containment import OPERATOR
from authserver.rbac.service import create_role, ensure_builtin_roles, find_role, update_role

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_CLIENT_NAME = "demo-client"
DEMO_CLIENT_SCOPE = "demo:read demo:write"
# A client's tokens carry only scopes its roles permit: the demo client holds this role.
DEMO_ROLE = "demo-api"


@click.command("init")
@click.option("--demo", is_flag=True, help="Also create a demo admin user and a demo client.")
@with_appcontext
def init_command(demo: bool) -> None:
    """Create or upgrade everything the server needs (idempotent)."""
    runtime = current_runtime()
    source = kek_source_for(runtime.settings)
    if isinstance(source, FileKekSource) and not source.exists():
        if runtime.settings.is_production:
            raise ConfigError("AUTHSERVER_KEK: required in production")
        source.create()
        click.echo(f"created a development key-encryption key in {source.path}", err=True)
    with one_init_at_a_time(runtime.settings):
        upgrade(directory=str(current_runtime_migrations()))
        envelope = runtime.envelope()
        ensure_pepper(envelope)
        resealed = reseal_legacy_records()
        if resealed:
            click.echo(f"resealed {resealed} audit record(s) written before the audit keys "
                       "(docs/data-protection.md)", err=True)  # fmt: skip
        ensure_builtin_roles()
        ensure_schedules(runtime.settings)
        for done in run_due_transitions(runtime.settings, envelope):
            click.echo(f"{done.action.replace('_', ' ')}: {done.alg} signing key {done.kid}",
                       err=True)  # fmt: skip
        db.session.commit()
    if demo:
        _ensure_demo_accounts()
    click.echo("authserver is initialised", err=True)


#: pg_advisory_lock's key for `init` (any constant; this is "authserv" in ASCII).
_INIT_LOCK_KEY = 0x6175746873657276


@contextlib.contextmanager
def one_init_at_a_time(settings: Settings) -> Iterator[None]:
    """`init` on several hosts or containers at once (compose's replicas, a rolling deploy)
    runs one after another: Alembic takes no lock of its own, and two first upgrades at once
    both create the same tables. PostgreSQL: a session advisory lock on a connection of its
    own; SQLite: an exclusive lock on a file beside the database."""
    sqlite_file = settings.sqlite_file
    if sqlite_file is not None:
        path = sqlite_file.with_name(sqlite_file.name + ".init-lock")
        make_private_dir(path.parent)
        create_private_file(path)
        # Never through a symlink (one left in its place could point at a FIFO or elsewhere).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock
        return
    if not settings.database_url.startswith("postgresql"):
        yield  # an in-memory SQLite database has one user
        return
    with db.engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _INIT_LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _INIT_LOCK_KEY})
            connection.commit()


def current_runtime_migrations() -> str:
    return str(MIGRATIONS_DIR)


def _ensure_demo_accounts() -> None:
    """The demo admin and client; the banner says where to go and shows new secrets once."""
    settings = current_runtime().settings
    if find_role(DEMO_ROLE) is None:
        create_role(
            DEMO_ROLE, DEMO_CLIENT_SCOPE.split(), "The demo client's API scopes", caller=OPERATOR
        )
        # Administrators hand out only what they hold (no escalation): the demo's admins may
        # issue demo API keys and roles because the admin role carries the demo scopes.
        admin = find_role("admin")
        update_role(admin, add=DEMO_CLIENT_SCOPE.split(), remove=[], description=None,
                    caller=OPERATOR)  # fmt: skip
        db.session.commit()
    admin = find_user(DEMO_ADMIN_EMAIL)
    password = None
    if admin is None:
        password = generate_secret()
        admin = create_user(
            DEMO_ADMIN_EMAIL, password, display_name="Demo admin", roles=("admin",), caller=OPERATOR
        )
        db.session.commit()
    client = find_client_by_name(DEMO_CLIENT_NAME)
    secret = None
    if client is None:
        client, secret = create_client(
            settings,
            NewClient(
                name=DEMO_CLIENT_NAME,
                scope=DEMO_CLIENT_SCOPE,
                roles=("resource-server", DEMO_ROLE),
            ),
            caller=OPERATOR,
        )
        db.session.commit()
    click.echo(_demo_banner(settings.url("/admin"), admin.requires_mfa, password,
                            client.client_id, secret))  # fmt: skip


def _demo_banner(
    admin_url: str, asks_second_factor: bool, password: str | None, client_id: str,
    secret: str | None,
) -> str:  # fmt: skip
    rule = "─" * 72
    once = "(shown once, not stored anywhere in the clear)"
    lines = [rule, f"  Sign in at {admin_url}", f"    email:    {DEMO_ADMIN_EMAIL}"]
    forgotten = "    Its password was shown once, when it was made (`users set-password`)"
    lines.append(f"    password: {password}   {once}" if password else forgotten)
    if asks_second_factor:
        lines.append("  The admin role asks for a second factor: have an authenticator app ready.")
    lines += ["", "  Demo confidential client (client_credentials):",
              f"    client_id:     {client_id}"]  # fmt: skip
    lost = "    Its secret was shown once, when it was made (`clients rotate-secret`)"
    lines.append(f"    client_secret: {secret}   {once}" if secret else lost)
    lines += [f"    scope:         {DEMO_CLIENT_SCOPE}", rule]
    return "\n".join(lines)
