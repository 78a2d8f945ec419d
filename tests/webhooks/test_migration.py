"""Migration 0016 on a database that already has the built-in roles: `db upgrade` alone (without
`init`) gives the admin role webhooks:read and webhooks:write and the auditor webhooks:read,
as `init` would, and downgrading takes them away again."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from authserver.app import MIGRATIONS_DIR
from authserver.platform.extensions import db
from tests.conftest import make_app

BEFORE = "5e1c0a7d9b21"  # 0015


def _held(role: str) -> set[str]:
    rows = db.session.execute(text(
        "SELECT p.permission FROM role_permissions p JOIN roles r ON r.id = p.role_id "
        "WHERE r.name = :n"), {"n": role})  # fmt: skip
    return {row[0] for row in rows}


def test_upgrade_gives_admin_and_auditor_the_webhook_permissions(tmp_path):
    app = make_app(tmp_path)
    with app.app_context():
        try:
            upgrade(directory=str(MIGRATIONS_DIR), revision=BEFORE)
            for role_id, name in ((1, "admin"), (2, "auditor"), (3, "user")):
                db.session.execute(text(
                    "INSERT INTO roles (id, name, description, is_builtin, requires_mfa) "
                    "VALUES (:i, :n, '', true, false)"), {"i": role_id, "n": name})  # fmt: skip
            db.session.execute(text("INSERT INTO role_permissions (role_id, permission) "
                                    "VALUES (1, 'audit:read'), (2, 'audit:read')"))  # fmt: skip
            db.session.commit()
            upgrade(directory=str(MIGRATIONS_DIR))
            assert _held("admin") == {"audit:read", "webhooks:read", "webhooks:write"}
            assert _held("auditor") == {"audit:read", "webhooks:read"}
            assert _held("user") == set()
            db.session.commit()
            downgrade(directory=str(MIGRATIONS_DIR), revision=BEFORE)
            assert _held("admin") == {"audit:read"} and _held("auditor") == {"audit:read"}
            db.session.commit()
        finally:
            db.session.remove()
            db.engine.dispose()
