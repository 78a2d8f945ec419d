"""`alembic upgrade head` on an empty database yields exactly the models' schema, on SQLite and
on PostgreSQL (autogenerate finds no difference)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from authserver.app import MIGRATIONS_DIR
from authserver.platform.extensions import db
from tests.conftest import make_app
from tests.pg import postgres_url  # noqa: F401 (fixture)


def _diff_after_upgrade(app) -> list:
    with app.app_context():
        try:
            upgrade(directory=str(MIGRATIONS_DIR))
            with db.engine.connect() as conn:
                return compare_metadata(MigrationContext.configure(conn), db.metadata)
        finally:
            db.engine.dispose()


def test_migrations_match_the_models_on_sqlite(tmp_path):
    app = make_app(tmp_path)
    assert _diff_after_upgrade(app) == []


@pytest.mark.postgres
def test_migrations_match_the_models_on_postgresql(tmp_path, postgres_url):  # noqa: F811
    app = make_app(tmp_path, database_url=postgres_url())
    assert _diff_after_upgrade(app) == []
