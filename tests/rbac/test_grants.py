"""Permission evaluation and scope narrowing (the rbac service), without HTTP."""

from __future__ import annotations

import pytest

from authserver.models import Client, Role
from authserver.platform.errors import Conflict
from authserver.platform.extensions import db
from authserver.rbac.containment import OPERATOR, permissions_of
from authserver.rbac.service import (
    create_role,
    delete_role,
    find_role,
    grant_role,
    grantable_scope,
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
    create_role("readers", ["orders:read"], caller=OPERATOR)
    create_role("writers", ["orders:write", "orders:read"], caller=OPERATOR)
    client = db.session.query(Client).filter_by(client_id=make_client("").client_id).one()
    assert permissions_of(client) == set()
    grant_role("readers", client, caller=OPERATOR)
    grant_role("writers", client, caller=OPERATOR)
    assert permissions_of(client) == {"orders:read", "orders:write"}


def test_builtin_roles_grow_but_never_shrink_and_are_never_deleted(app):
    admin = find_role("admin")
    with pytest.raises(Conflict):
        update_role(admin, add=[], remove=["keys:read"], description=None, caller=OPERATOR)
    update_role(admin, add=["reports:read"], remove=[], description=None, caller=OPERATOR)
    assert "reports:read" in find_role("admin").permission_names
    with pytest.raises(Conflict):
        delete_role(admin, caller=OPERATOR)


def test_deleting_a_role_takes_it_from_its_holders(app, make_client):
    create_role("temp", ["x:y"], caller=OPERATOR)
    client = db.session.query(Client).filter_by(client_id=make_client("").client_id).one()
    grant_role("temp", client, caller=OPERATOR)
    db.session.commit()
    delete_role(find_role("temp"), caller=OPERATOR)
    db.session.commit()
    client = db.session.query(Client).filter_by(id=client.id).one()
    assert client.roles == [] and db.session.query(Role).filter_by(name="temp").count() == 0
