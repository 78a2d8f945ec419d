"""Backup and restore as docs/production.md writes them: `pg_dump --format=custom` of the
database and, kept apart, the KEK; `pg_restore` into an empty database. With the same KEK the
restored server verifies what was issued before, signs new tokens, recognises client secrets and
its audit chain verifies; with another KEK nothing sealed opens, and the server says so."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess

import pytest

from authserver.cli import cli
from authserver.platform.extensions import db
from tests.conftest import init_app, make_app
from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.services import postgres_binary


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _kek() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def _issue_before_backup(tmp_path, database_url: str, kek: str) -> tuple[tuple, str]:
    app = make_app(tmp_path / "before", database_url=database_url, kek=kek)
    init_app(app)
    created = app.test_cli_runner().invoke(
        cli, ["clients", "create", "--name", "backed-up", "--scope", "a", "--json"]
    )
    client = json.loads(created.stdout)
    auth = (client["client_id"], client["client_secret"])
    issued = app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth
    )
    with app.app_context():
        db.engine.dispose()
    return auth, issued.get_json()["access_token"]


def _serves_what_was_issued(tmp_path, database_url: str, kek: str, auth: tuple, access: str):
    restored = make_app(tmp_path / "after", database_url=database_url, kek=kek)
    http = restored.test_client()
    answer = http.post("/oauth/introspect", data={"token": access}, auth=auth).get_json()
    assert answer["active"] is True and answer["client_id"] == auth[0]
    again = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert again.status_code == 200  # the private keys opened under the same KEK
    verified = restored.test_cli_runner().invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    with restored.app_context():
        db.engine.dispose()


@pytest.mark.sqlite
def test_a_sqlite_online_backup_restores(tmp_path):
    # docs/production.md: sqlite3's online backup (the CLI's .backup, here Python's sqlite3).
    kek = _kek()
    auth, access = _issue_before_backup(tmp_path, f"sqlite:///{tmp_path / 'auth.db'}", kek)
    copy = tmp_path / "backup.db"
    _run("python3", "-c", "import sqlite3, sys; "
         "sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))",
         str(tmp_path / "auth.db"), str(copy))  # fmt: skip
    _serves_what_was_issued(tmp_path, f"sqlite:///{copy}", kek, auth, access)


@pytest.mark.postgres
def test_a_restored_database_with_its_kek_serves_what_was_issued(tmp_path, postgres_url):  # noqa: F811
    kek = _kek()
    source = postgres_url()
    auth, access = _issue_before_backup(tmp_path, source, kek)

    dump = tmp_path / "authserver.dump"
    _run(postgres_binary("pg_dump"), "--format=custom", "--no-owner",
         f"--dbname={_libpq(source)}", f"--file={dump}")  # fmt: skip
    target = postgres_url()
    _run(postgres_binary("pg_restore"), "--no-owner", "--exit-on-error",
         f"--dbname={_libpq(target)}", str(dump))  # fmt: skip

    _serves_what_was_issued(tmp_path, target, kek, auth, access)

    other = make_app(tmp_path / "other", database_url=target, kek=_kek())
    refused = other.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth
    )
    # The pepper and the signing keys are sealed under the lost KEK: a clear 503, never a 500.
    assert refused.status_code == 503, refused.get_data(as_text=True)
    assert "Traceback" not in refused.get_data(as_text=True)
    ready = other.test_client().get("/readyz")
    assert ready.status_code == 503 and "kek" in ready.get_json()
    with other.app_context():
        db.engine.dispose()
