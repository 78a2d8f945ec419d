"""Flask extensions, created unbound; ``create_app`` binds them."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints, so that Alembic can alter them (and SQLite batch mode can find them).
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def commit_if_used() -> None:
    """Commit this request's transaction, if it began one or has changes pending (a request
    that read nothing from the database costs no round trip, nor a session)."""
    if not db.session.registry.has():
        return
    session = db.session()  # the request's session, not the registry
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        session.commit()
