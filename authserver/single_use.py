"""Single use (ARCHITECTURE.md): authorization codes, refresh tokens, device codes and the
decision on them, PAR request URIs, recovery codes, TOTP steps, and the ``jti``s of client
assertions and DPoP proofs are claimed with one conditional UPDATE (or an INSERT on a unique
key) whose row count decides. Never read, check, then write: two requests that both read
"unused" would both win.

How a claim meets the transaction of the request that makes it is decided here, in one place:

``claim``
    In the request's transaction. The claimed row stays locked until the request commits or
    rolls back (PostgreSQL's row lock; SQLite's database write lock), so a concurrent claimant
    waits, then re-evaluates its WHERE and loses if the first one committed. The claim commits
    with what it buys (a successor token, a session, a code) and rolls back with a request that
    fails after it, which then bought nothing.
``Standing``
    A claim in the request's transaction that stands whatever the request's outcome: what the
    request writes after it goes into a savepoint; if the request fails, that is undone and the
    claim alone is committed. Concurrent claimants still wait for the outcome, so they see what
    the first one issued.
``insert_apart``
    One INSERT on a unique key, on a connection and in a transaction of its own, committed at
    once, before anything else the request does.
``commit_now``
    The request's own transaction, committed at once: for what must stand although the request
    is about to fail (a family revoked on reuse, what a replayed code issued, a device's poll).

Services otherwise flush and leave the commit to the view; these are the exceptions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Delete, Insert, Table, Update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import SessionTransaction

from authserver.platform.extensions import db


def claim(statement: Update | Delete) -> bool:
    """Run one conditional UPDATE (or DELETE) in the request's transaction; True if it took
    its row."""
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return result.rowcount == 1


def commit_now() -> None:
    """Commit the request's transaction now: what it holds stands although the request fails."""
    db.session.commit()


class Standing:
    """A claim that stands whatever the outcome of the request that made it."""

    def __init__(self) -> None:
        self._after: SessionTransaction | None = None

    def claim(self, statement: Update) -> bool:
        if not claim(statement):
            return False
        # The claim is in the outer transaction; what the request does next, in a savepoint.
        self._after = db.session.begin_nested()
        return True

    @contextlib.contextmanager
    def kept_on_failure(self) -> Iterator[None]:
        """Around the request's work: if it fails after the claim, the claim is committed."""
        try:
            yield
        except Exception:
            after, self._after = self._after, None
            if after is not None:
                if after.is_active:
                    after.rollback()
                commit_now()
            raise


def add_once(table: Table, **values: object) -> bool:
    """INSERT one row unless its key is there already, in the caller's transaction; True if this
    call added it. ``ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL): whether the row came back
    decides (psycopg reports no row count for it), with no savepoint and no error to catch."""
    dialect = db.session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    statement = insert(table).values(**values).on_conflict_do_nothing()
    return db.session.execute(statement.returning(*table.primary_key)).first() is not None


def insert_apart(statement: Insert, prune: Delete | None = None) -> bool:
    """INSERT one row on a unique key in a transaction of its own, committed at once (after
    ``prune``, which forgets rows that no longer matter); False if the key was there already.

    For what must be remembered although the request that presented it fails, and that the
    request cannot write itself without committing everything else it did."""
    _refuse_behind_own_write_lock()
    try:
        with db.engine.begin() as connection:
            if prune is not None:
                connection.execute(prune)
            connection.execute(statement)
    except IntegrityError:
        return False
    return True


def _refuse_behind_own_write_lock() -> None:
    # On SQLite a transaction that has written holds the database's only write lock: a second
    # connection of the same request would wait for it until busy_timeout and then fail.
    if not db.session.registry.has():
        return
    session = db.session()
    if not session.in_transaction() or session.get_bind().dialect.name != "sqlite":
        return
    if session.connection().connection.dbapi_connection.in_transaction:
        raise RuntimeError("insert_apart after this request wrote to SQLite: claim first")
