"""What other local users must not read is private: the SQLite database and its -wal and -shm
files 0600, its folder (``instance/`` by default), ``keys/`` and the metrics folder 0700, the
KEK file 0600, whatever the umask; after ``init``, under ``serve``'s workers, and ``doctor``
names anything looser with the chmod that fixes it."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
import requests

from tests.conftest import init_app, make_app
from tests.server_process import AUTHSERVER, ServerProcess

KEK = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="  # base64 of 32 bytes


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def usual_umask():
    """The usual 022, under which files were created world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def sqlite_url(path) -> str:
    return f"sqlite:///{path}"


def test_init_creates_the_database_instance_and_keys_private(tmp_path):
    database = tmp_path / "instance" / "auth.db"
    keys = tmp_path / "keys"
    app = make_app(tmp_path, database_url=sqlite_url(database), keys_dir=str(keys))
    init_app(app)
    # The app's pooled connection is still open: SQLite has made the -wal and -shm files.
    for path in (database, f"{database}-wal", f"{database}-shm", keys / "kek"):
        assert mode_of(path) == 0o600, path
    for folder in (database.parent, keys):
        assert mode_of(folder) == 0o700, folder


def test_init_makes_a_checked_out_keys_folder_private(tmp_path):
    keys = tmp_path / "keys"  # keys/ is in the repository, so it exists, 0755, before init
    keys.mkdir(mode=0o755)
    (keys / "README.md").write_text("keys live here\n")
    app = make_app(tmp_path, database_url=sqlite_url(tmp_path / "auth.db"), keys_dir=str(keys))
    init_app(app)
    assert mode_of(keys) == 0o700 and mode_of(keys / "kek") == 0o600


def test_served_workers_keep_the_wal_and_shm_files_private(tmp_path):
    database = tmp_path / "instance" / "auth.db"
    metrics = tmp_path / "run" / "metrics"
    server = ServerProcess(tmp_path, AUTHSERVER_DATABASE_URL=sqlite_url(database),
                           AUTHSERVER_METRICS_DIR=str(metrics))  # fmt: skip
    server.cli("init")
    created = server.cli("clients", "create", "--name", "svc", "--scope", "", "--json")
    client = json.loads(created)
    auth = (client["client_id"], client["client_secret"])
    # Between init and serve SQLite removed the -wal and -shm files (last connection closed):
    # the workers make them anew.
    assert not os.path.exists(f"{database}-wal")
    with server.running(workers=2):
        for _ in range(4):  # writes (revocations) from both workers
            token = requests.post(server.issuer + "/oauth/token", auth=auth, timeout=10,
                                  data={"grant_type": "client_credentials"}).json()  # fmt: skip
            revoked = requests.post(server.issuer + "/oauth/revoke", auth=auth, timeout=10,
                                    data={"token": token["access_token"]})  # fmt: skip
            assert revoked.status_code == 200
        for path in (database, f"{database}-wal", f"{database}-shm"):
            assert mode_of(path) == 0o600, path
        assert mode_of(database.parent) == 0o700
        assert mode_of(metrics) == 0o700 and mode_of(metrics.parent) == 0o700


def doctor(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([AUTHSERVER, "doctor", "--workers", "1"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_doctor_names_a_loose_database_file_and_its_fix(tmp_path):
    database = tmp_path / "instance" / "auth.db"
    env = {"AUTHSERVER_ENV": "production", "AUTHSERVER_ISSUER": "https://id.example.com",
           "AUTHSERVER_KEK": KEK, "AUTHSERVER_DATABASE_URL": sqlite_url(database)}  # fmt: skip
    app = make_app(tmp_path, database_url=sqlite_url(database))
    init_app(app)
    clean = doctor(env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"ok       database file private ({database})" in clean.stdout
    os.chmod(database, 0o644)  # as the server made it before
    os.chmod(database.parent, 0o755)  # noqa: S103 - the loose mode under test
    loose = doctor(env)
    assert loose.returncode == 1
    assert f"PROBLEM  database file private ({database})" in loose.stdout
    assert f"{database} is mode 0644, open to other local users: chmod 600 {database}" in (
        loose.stdout
    )
    assert f"chmod 700 {database.parent}" in loose.stdout and "2 problem(s)" in loose.stdout


def test_doctor_names_a_loose_wal_file(tmp_path):
    database = tmp_path / "auth.db"
    for path in (database, tmp_path / "auth.db-wal", tmp_path / "auth.db-shm"):
        path.write_bytes(b"")
        os.chmod(path, 0o600)
    os.chmod(tmp_path, 0o700)
    os.chmod(tmp_path / "auth.db-wal", 0o640)
    env = {"AUTHSERVER_KEK": KEK, "AUTHSERVER_DATABASE_URL": sqlite_url(database)}
    done = doctor(env)
    assert done.returncode == 1
    assert f"PROBLEM  database WAL private ({database}-wal)" in done.stdout
    assert f"chmod 600 {database}-wal" in done.stdout
    assert f"ok       database shared memory private ({database}-shm)" in done.stdout


def test_doctor_names_a_loose_keys_folder_and_kek_file(tmp_path):
    keys = tmp_path / "keys"
    app = make_app(tmp_path, database_url=sqlite_url(tmp_path / "auth.db"), keys_dir=str(keys))
    init_app(app)
    env = {"AUTHSERVER_KEK": "", "AUTHSERVER_KEYS_DIR": str(keys),
           "AUTHSERVER_DATABASE_URL": sqlite_url(tmp_path / "auth.db")}  # fmt: skip
    private = doctor(env)
    assert f"ok       keys folder private ({keys})" in private.stdout
    assert f"ok       KEK file private ({keys / 'kek'})" in private.stdout
    os.chmod(keys, 0o755)  # noqa: S103 - the loose mode under test
    os.chmod(keys / "kek", 0o644)
    loose = doctor(env)
    assert loose.returncode == 1
    assert f"PROBLEM  keys folder private ({keys})" in loose.stdout
    assert f"chmod 700 {keys}" in loose.stdout
    assert f"PROBLEM  KEK file private ({keys / 'kek'})" in loose.stdout
    assert f"{keys / 'kek'} is mode 0644, open to other local users: chmod 600 {keys / 'kek'}" in (
        loose.stdout
    )
