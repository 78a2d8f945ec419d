"""Roles in the admin UI (Flask test client): created with permissions ticked from the known
ones, changed, required to use a second factor, deleted; a built-in role only grows;
a delegated admin confers nothing they lack. The rbac service decides and audits."""

from __future__ import annotations

from sqlalchemy import func, select

from authserver.models import AuditEvent, Role, User
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.admin.conftest import form_of, make_person, sign_in_with_code


def _role(name: str) -> Role | None:
    db.session.expire_all()
    return db.session.scalar(select(Role).where(Role.name == name))


def test_a_role_is_created_changed_and_deleted(app, runner, as_admin):
    page = as_admin.get("/admin/roles/new").get_data(as_text=True)
    # The picker offers the server's permissions (and roles' ones), not protocol scopes.
    assert 'value="users:read"' in page and 'value="openid"' not in page
    token = csrf_of(page)
    made = as_admin.post(
        "/admin/roles/new",
        data={
            "csrf_token": token,
            "name": "support",
            "description": "Helpdesk",
            "permissions": ["users:read", "audit:read"],
            "requires_mfa": "y",
        },
    )
    assert made.status_code == 303 and made.headers["Location"] == "/admin/roles/support"
    role = _role("support")
    assert role.permission_names == {"users:read", "audit:read"}
    assert role.requires_mfa and role.description == "Helpdesk" and not role.is_builtin
    # A permission the operator added to some role is offered from then on.
    assert runner("roles", "create", "orders", "--scope", "orders:read").exit_code == 0
    assert runner("roles", "grant", "orders", "--user", "root@example.com").exit_code == 0
    assert 'value="orders:read"' in as_admin.get("/admin/roles/new").get_data(as_text=True)
    changed = as_admin.post(
        "/admin/roles/support",
        data={
            "csrf_token": token,
            "description": "Second line",
            "permissions": ["users:read", "orders:read", "clients:read"],
        },
    )
    assert changed.status_code == 303
    role = _role("support")
    assert role.permission_names == {"users:read", "orders:read", "clients:read"}
    assert not role.requires_mfa and role.description == "Second line"
    person = make_person(app, runner, "ada@example.com", "support", totp=False)
    path = "/admin/roles/support/delete"
    assert as_admin.post(path, data={"csrf_token": form_of(as_admin, path)}).status_code == 303
    assert _role("support") is None
    assert db.session.get(User, person.id).role_names == []
    events = [e.event for e in db.session.scalars(select(AuditEvent))]
    assert {"rbac:role:created", "rbac:role:updated", "rbac:role:deleted"} <= set(events)


def test_bad_roles_are_refused_with_the_reason_and_nothing_written(as_admin):
    token = form_of(as_admin, "/admin/roles/new")
    for name, scope, message in [
        ("Bad Name", "users:read", "a role name is 1-64"),
        ("ok", 'quo"te', "invalid scope token"),
        ("admin", "users:read", "role admin exists"),
    ]:
        refused = as_admin.post(
            "/admin/roles/new", data={"csrf_token": token, "name": name, "permissions": [scope]}
        )
        assert refused.status_code in (400, 409) and message in refused.get_data(as_text=True)
    assert _role("ok") is None and _role("Bad Name") is None
    assert as_admin.get("/admin/roles/nobody").status_code == 404
    assert as_admin.get("/admin/roles/admin/delete").status_code == 200
    builtin = as_admin.post(
        "/admin/roles/admin/delete", data={"csrf_token": token}, follow_redirects=True
    )
    assert "built in and cannot be deleted" in builtin.get_data(as_text=True)
    assert _role("admin") is not None


def test_a_built_in_role_grows_but_never_shrinks(as_admin):
    page = as_admin.get("/admin/roles/auditor").get_data(as_text=True)
    held = sorted(_role("auditor").permission_names)
    # Its permissions are drawn ticked and fixed (sent as hidden fields).
    assert 'value="audit:read" checked disabled' in page
    token = csrf_of(page)
    shrunk = as_admin.post(
        "/admin/roles/auditor", data={"csrf_token": token, "permissions": held[1:]}
    )
    assert shrunk.status_code == 409 and "extended, not reduced" in shrunk.get_data(as_text=True)
    assert sorted(_role("auditor").permission_names) == held
    grown = as_admin.post(
        "/admin/roles/auditor", data={"csrf_token": token, "permissions": [*held, "clients:write"]}
    )
    assert grown.status_code == 303
    assert _role("auditor").permission_names == {*held, "clients:write"}


def test_a_delegated_admin_gives_a_role_only_what_they_hold(app, http, runner):
    assert (
        runner(
            "roles", "create", "role-clerks", "--scope", "roles:read roles:write users:read"
        ).exit_code
        == 0
    )
    clerk = make_person(app, runner, "clerk@example.com", "role-clerks")
    sign_in_with_code(http, clerk)
    page = http.get("/admin/roles/new").get_data(as_text=True)
    # What they lack is shown, not offered (the service refuses it anyway, below).
    assert (
        'value="keys:rotate" disabled> <code>keys:rotate</code> <small>(you do not hold it)' in page
    )
    token = csrf_of(page)
    refused = http.post(
        "/admin/roles/new",
        data={"csrf_token": token, "name": "mole", "permissions": ["users:read", "keys:rotate"]},
    )
    assert refused.status_code == 403 and "keys:rotate" in refused.get_data(as_text=True)
    assert _role("mole") is None
    # Nor may they change a role holding more than they do (every member would be affected).
    widened = http.post(
        "/admin/roles/auditor", data={"csrf_token": token, "description": "x", "permissions": []}
    )
    assert widened.status_code == 403 and _role("auditor").description != "x"
    made = http.post(
        "/admin/roles/new",
        data={"csrf_token": token, "name": "readers", "permissions": ["users:read"]},
    )
    assert made.status_code == 303 and _role("readers").permission_names == {"users:read"}
    refusals = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "rbac:escalation:refused")
    )
    assert refusals == 2


def test_roles_are_searched_and_an_auditor_only_reads_them(app, http, runner):
    auditor = make_person(app, runner, "audit@example.com", "auditor")
    sign_in_with_code(http, auditor)
    found = http.get("/admin/roles?q=AUD").get_data(as_text=True)
    assert "/admin/roles/auditor" in found and '/admin/roles/admin"' not in found
    assert "Create role" not in found
    page = http.get("/admin/roles/auditor").get_data(as_text=True)
    assert "<fieldset disabled>" in page and "Save role" not in page
    assert http.get("/admin/roles/new").status_code == 403
    assert http.post("/admin/roles/auditor", data={"csrf_token": csrf_of(page)}).status_code == 403


def test_dropping_a_second_factor_acts_on_every_member(app, http, runner):
    """Whoever turns a role's second factor off must be able to act on each member, whatever
    else they hold: else a member holding more than the caller would lose it."""
    assert runner("roles", "create", "role-clerks", "--scope",
                  "roles:read roles:write users:read").exit_code == 0  # fmt: skip
    assert runner("roles", "create", "guarded", "--scope", "users:read", "--require-mfa",
                  ).exit_code == 0  # fmt: skip
    clerk = make_person(app, runner, "clerk@example.com", "role-clerks")
    make_person(app, runner, "ops@example.com", "guarded", "admin")
    sign_in_with_code(http, clerk)
    token = form_of(http, "/admin/roles/guarded")
    dropped = http.post(
        "/admin/roles/guarded",
        data={"csrf_token": token, "permissions": ["users:read"], "description": ""},
    )
    assert dropped.status_code == 403 and _role("guarded").requires_mfa
    assert runner("roles", "revoke", "admin", "--user", "ops@example.com").exit_code == 0
    dropped = http.post(
        "/admin/roles/guarded",
        data={"csrf_token": token, "permissions": ["users:read"], "description": ""},
    )
    assert dropped.status_code == 303 and not _role("guarded").requires_mfa
