"""Permission evaluation and scope narrowing (the rbac service), without HTTP."""

from __future__ import annotations

import pytest

from authserver.errors import Conflict
from authserver.extensions import db
from authserver.models import Client, Role
from authserver.rbac.service import (
    create_role,
    delete_role,
    find_role,
    grant_role,
    grantable_scope,
    permissions_of,
    update_role,
)


@pytest.mark.parametrize(
    "scope, permissions, granted",
    [
        ("orders:read orders:write", {"orders:read"}, "orders:read"),
        ("orders:read", set(), ""),
        (
            "openid profile email offline_access orders:read",
            set(),
            "openid profile email offline_access",
        ),
        ("b a", {"a", "b"}, "b a"),  # order kept
        ("", {"a"}, ""),
    ],
)
def test_a_scope_is_narrowed_to_what_roles_permit(scope, permissions, granted):
    assert grantable_scope(scope, permissions) == granted


def test_permissions_are_the_union_over_roles(app, make_client):
    create_role("readers", ["orders:read"])
    create_role("writers", ["orders:write", "orders:read"])
    client = db.session.query(Client).filter_by(client_id=make_client("").client_id).one()
    assert permissions_of(client) == set()
    grant_role("readers", client)
    grant_role("writers", client)
    assert permissions_of(client) == {"orders:read", "orders:write"}


def test_builtin_roles_grow_but_never_shrink_and_are_never_deleted(app):
    admin = find_role("admin")
    with pytest.raises(Conflict):
        update_role(admin, add=[], remove=["keys:read"], description=None)
    update_role(admin, add=["reports:read"], remove=[], description=None)
    assert "reports:read" in find_role("admin").permission_names
    with pytest.raises(Conflict):
        delete_role(admin)


def test_deleting_a_role_takes_it_from_its_holders(app, make_client):
    create_role("temp", ["x:y"])
    client = db.session.query(Client).filter_by(client_id=make_client("").client_id).one()
    grant_role("temp", client)
    db.session.commit()
    delete_role(find_role("temp"))
    db.session.commit()
    client = db.session.query(Client).filter_by(id=client.id).one()
    assert client.roles == [] and db.session.query(Role).filter_by(name="temp").count() == 0
