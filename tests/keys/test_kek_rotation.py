"""KEK rotation: every ciphertext re-wrapped under the new KEK in one transaction; hashes
made with the pepper stay valid; nothing is lost."""

from __future__ import annotations

import base64
import json
import os

from sqlalchemy import select

from authserver.cli import cli
from authserver.keys.kek import Envelope, kek_id
from authserver.keys.service import load_private_key
from authserver.models import ServerSecret, SigningKey
from authserver.platform.extensions import db
from tests.conftest import make_app


def _kek(path) -> bytes:
    return base64.b64decode(path.read_text())


def test_file_kek_rotation_rewraps_everything(app, tmp_path, runner, make_client, http):
    client = make_client()
    keys_dir = tmp_path / "keys"
    old = _kek(keys_dir / "kek")
    result = runner("kek", "rotate", "--json")
    assert result.exit_code == 0, result.output
    value = json.loads(result.stdout)
    assert value["rewrapped"] == 4  # three private keys and the pepper

    new = _kek(keys_dir / "kek")
    assert new != old and value["kek_id"] == kek_id(new)
    assert (keys_dir / "kek.previous").read_text().split() == [base64.b64encode(old).decode()]
    assert not (keys_dir / "kek.next").exists()
    assert oct(os.stat(keys_dir / "kek").st_mode & 0o777) == "0o600"

    only_new = Envelope([new])
    db.session.expire_all()
    for key in db.session.scalars(select(SigningKey)):
        assert key.kek_id == kek_id(new)
        assert load_private_key(only_new, key).thumbprint() == key.kid
    pepper = db.session.get(ServerSecret, "pepper")
    assert only_new.decrypt(pepper.kek_id, pepper.ciphertext, pepper.associated_data)

    # A fresh process with the new KEK: the old client secret still authenticates.
    fresh = make_app(tmp_path)
    response = fresh.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=client.basic()
    )
    assert response.status_code == 200


def test_env_kek_rotation_with_the_previous_kek(tmp_path):
    old = base64.b64encode(os.urandom(32)).decode()
    new = base64.b64encode(os.urandom(32)).decode()
    app = make_app(tmp_path, kek=old)
    assert app.test_cli_runner().invoke(cli, ["init"]).exit_code == 0

    # Without the old KEK the server cannot open what it wrapped...
    broken = make_app(tmp_path, kek=new)
    assert broken.test_cli_runner().invoke(cli, ["kek", "rotate"]).exit_code != 0

    rotating = make_app(tmp_path, kek=new, kek_previous=old)
    result = rotating.test_cli_runner().invoke(cli, ["kek", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rewrapped"] == 4

    done = make_app(tmp_path, kek=new)
    created = done.test_cli_runner().invoke(cli, ["clients", "create", "--name", "c", "--json"])
    secret = json.loads(created.stdout)
    response = done.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(secret["client_id"], secret["client_secret"]),
    )
    assert response.status_code == 200
    with done.app_context():
        ids = set(db.session.scalars(select(SigningKey.kek_id)))
    assert ids == {kek_id(base64.b64decode(new))}


def test_kek_generate_prints_a_valid_kek(runner):
    result = runner("kek", "generate")
    assert len(base64.b64decode(result.stdout.strip())) == 32


def test_every_table_that_names_a_kek_is_rewrapped():
    """A new sealed column must be added to keys.rewrap.SEALED, or KEK rotation would leave it
    under a KEK the operator is about to drop."""
    from authserver.keys.rewrap import SEALED
    from authserver.platform.extensions import db

    sealed = {model.__table__.name for model, _ in SEALED}
    naming_a_kek = {t.name for t in db.metadata.sorted_tables if "kek_id" in t.columns}
    assert naming_a_kek == sealed
