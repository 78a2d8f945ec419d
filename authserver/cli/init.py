"""``authserver init``: database schema, KEK (development), pepper, built-in roles, one active
key per algorithm; with ``--demo`` a demo admin and a demo client, their secrets printed once."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from flask_migrate import upgrade

from authserver.accounts.service import create_user, find_user
from authserver.clients.service import NewClient, create_client, find_client_by_name
from authserver.config import MIGRATIONS_DIR, ConfigError
from authserver.extensions import db
from authserver.keys.kek import FileKekSource, kek_source_for
from authserver.keys.lifecycle import run_due_transitions
from authserver.keys.pepper import ensure_pepper
from authserver.keys.schedule import ensure_schedules
from authserver.rbac.containment import OPERATOR
from authserver.rbac.service import create_role, ensure_builtin_roles, find_role, update_role
from authserver.runtime import current_runtime
from authserver.security import generate_secret

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
    upgrade(directory=str(current_runtime_migrations()))
    envelope = runtime.envelope()
    ensure_pepper(envelope)
    ensure_builtin_roles()
    ensure_schedules(runtime.settings)
    for done in run_due_transitions(runtime.settings, envelope):
        click.echo(f"{done.action.replace('_', ' ')}: {done.alg} signing key {done.kid}", err=True)
    db.session.commit()
    if demo:
        _ensure_demo_accounts()
    click.echo("authserver is initialised", err=True)


def current_runtime_migrations() -> str:
    return str(MIGRATIONS_DIR)


def _ensure_demo_accounts() -> None:
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
    if find_user(DEMO_ADMIN_EMAIL) is None:
        password = generate_secret()
        create_user(
            DEMO_ADMIN_EMAIL, password, display_name="Demo admin", roles=("admin",), caller=OPERATOR
        )
        db.session.commit()
        click.echo("demo admin user (shown once, not stored anywhere in the clear):")
        click.echo(f"  email:    {DEMO_ADMIN_EMAIL}")
        click.echo(f"  password: {password}")
    else:
        click.echo(f"demo admin user {DEMO_ADMIN_EMAIL} exists (its password was shown once)")
    client = find_client_by_name(DEMO_CLIENT_NAME)
    if client is None:
        client, secret = create_client(
            current_runtime().settings,
            NewClient(
                name=DEMO_CLIENT_NAME,
                scope=DEMO_CLIENT_SCOPE,
                roles=("resource-server", DEMO_ROLE),
            ),
            caller=OPERATOR,
        )
        db.session.commit()
        click.echo("demo confidential client (shown once, not stored anywhere in the clear):")
        click.echo(f"  client_id:     {client.client_id}")
        click.echo(f"  client_secret: {secret}")
        click.echo(f"  scope:         {DEMO_CLIENT_SCOPE}")
    else:
        click.echo(f"demo client {client.client_id} exists (its secret was shown once)")
