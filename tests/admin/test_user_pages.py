"""Managing people in the admin UI (Flask test client, through the same services as the API
and CLI): create with a typed password or a set-password link shown once, reset a password,
sign out one session or everywhere, edit, disable and enable, filter the list; a delegated
admin can do none of it to someone holding more than they do."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from authserver.models import AuditEvent, PasswordReset, User, UserSession
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.admin.conftest import form_of, make_person, sign_in_with_code
from tests.conftest import PASSWORD

NEW_PASSWORD = "a fresh passphrase of his own"


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def _sign_in(app, email: str, password: str = PASSWORD):
    """A second browser: a test client signed in as ``email`` (or refused)."""
    other = app.test_client()
    token = csrf_of(other.get("/login").get_data(as_text=True))
    answer = other.post(
        "/login",
        data={"email": email, "password": password, "next": "/account", "csrf_token": token},
    )
    return other, answer


def _signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def _link_of(page: str) -> str:
    match = re.search(r'id="secret-value" class="secret-value" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def _use_link(app, link: str, password: str):
    path = link.split("://", 1)[1].split("/", 1)[1]
    browser = app.test_client()
    page = browser.get("/" + path)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    return browser.post(
        "/" + path,
        data={
            "new_password": password,
            "confirm": password,
            "csrf_token": csrf_of(page.get_data(as_text=True)),
        },
    )


def test_a_user_created_with_a_link_sets_the_password_through_it_once(app, as_admin):
    token = form_of(as_admin, "/admin/users/new")
    made = as_admin.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "email": "Bob@Example.com",
            "display_name": "Bob",
            "roles": ["auditor"],
            "password_choice": "link",
        },
    )
    assert made.status_code == 200
    page = made.get_data(as_text=True)
    assert "shown only once" in page and "works once, for 1d" in page
    link = _link_of(page)
    bob = _user("bob@example.com")
    assert bob.password_hash is None and set(bob.role_names) == {"auditor"}
    # Only the link's HMAC is stored; before it is used nobody signs in as Bob.
    stored = db.session.scalar(select(PasswordReset).where(PasswordReset.user_id == bob.id))
    assert link.rsplit("/", 1)[1] not in stored.token_hash
    assert _sign_in(app, "bob@example.com", "")[1].status_code == 400
    assert _use_link(app, link, NEW_PASSWORD).status_code == 200
    gone = app.test_client().get("/" + link.split("://", 1)[1].split("/", 1)[1])
    assert gone.status_code == 400 and "used already" in gone.get_data(as_text=True)
    other, answer = _sign_in(app, "bob@example.com", NEW_PASSWORD)
    assert answer.status_code == 303 and _signed_in(other)
    events = [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert {"account:user:created", "account:password-link:issued", "account:password:set"} <= set(
        events
    )


def test_a_user_created_with_a_typed_password_signs_in_and_a_weak_one_writes_nothing(app, as_admin):
    token = form_of(as_admin, "/admin/users/new")
    weak = as_admin.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "email": "carol@example.com",
            "password_choice": "password",
            "password": "123456qwerty",
        },
    )
    assert weak.status_code == 400 and "most common passwords" in weak.get_data(as_text=True)
    missing = as_admin.post(
        "/admin/users/new",
        data={"csrf_token": token, "email": "carol@example.com", "password_choice": "password"},
    )
    assert missing.status_code == 400
    bad_email = as_admin.post(
        "/admin/users/new",
        data={"csrf_token": token, "email": "not an email", "password_choice": "link"},
    )
    assert bad_email.status_code == 400 and "not an email address" in bad_email.get_data(
        as_text=True
    )
    assert _user("carol@example.com") is None
    made = as_admin.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "email": "carol@example.com",
            "password_choice": "password",
            "password": PASSWORD,
        },
    )
    assert made.status_code == 303
    assert _signed_in(_sign_in(app, "carol@example.com")[0])
    again = as_admin.post(
        "/admin/users/new",
        data={"csrf_token": token, "email": "carol@example.com", "password_choice": "link"},
    )
    assert again.status_code == 409 and "exists" in again.get_data(as_text=True)


def test_a_password_reset_by_an_admin_signs_the_person_out(app, runner, as_admin):
    person = make_person(app, runner, "dan@example.com", totp=False)
    device, _ = _sign_in(app, "dan@example.com")
    assert _signed_in(device)
    path = f"/admin/users/{person.subject}/password"
    token = form_of(as_admin, path)
    short = as_admin.post(path, data={"csrf_token": token, "password": "short"})
    assert short.status_code == 400 and "At least 12 characters." in short.get_data(as_text=True)
    assert _signed_in(device)  # a refused password changed nothing
    assert (
        as_admin.post(path, data={"csrf_token": token, "password": NEW_PASSWORD}).status_code == 303
    )
    assert not _signed_in(device)
    assert _sign_in(app, "dan@example.com")[1].status_code == 401  # the old password is gone
    assert _signed_in(_sign_in(app, "dan@example.com", NEW_PASSWORD)[0])
    # A link instead: made twice, only the second works.
    first = _link_of(
        as_admin.post(path + "-link", data={"csrf_token": token}).get_data(as_text=True)
    )
    second = _link_of(
        as_admin.post(path + "-link", data={"csrf_token": token}).get_data(as_text=True)
    )
    first_path = "/" + first.split("://", 1)[1].split("/", 1)[1]
    assert app.test_client().get(first_path).status_code == 400
    assert _use_link(app, second, PASSWORD).status_code == 200
    assert _signed_in(_sign_in(app, "dan@example.com")[0])


def test_sign_out_one_session_or_everywhere(app, runner, as_admin):
    person = make_person(app, runner, "eve@example.com", totp=False)
    laptop, _ = _sign_in(app, "eve@example.com")
    phone, _ = _sign_in(app, "eve@example.com")
    detail = as_admin.get(f"/admin/users/{person.subject}").get_data(as_text=True)
    sids = re.findall(rf"/admin/users/{person.subject}/sessions/([^/]+)/end", detail)
    assert len(sids) == 2
    token = csrf_of(detail)
    ended = as_admin.post(
        f"/admin/users/{person.subject}/sessions/{sids[0]}/end", data={"csrf_token": token}
    )
    assert ended.status_code == 303
    assert [_signed_in(laptop), _signed_in(phone)].count(True) == 1
    again = as_admin.post(
        f"/admin/users/{person.subject}/sessions/{sids[0]}/end",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "had ended already" in again.get_data(as_text=True)
    path = f"/admin/users/{person.subject}/sign-out"
    assert as_admin.post(path, data={"csrf_token": form_of(as_admin, path)}).status_code == 303
    assert not _signed_in(laptop) and not _signed_in(phone)
    live = db.session.scalar(
        select(func.count())
        .select_from(UserSession)
        .where(UserSession.user_id == person.id, UserSession.ended_at.is_(None))
    )
    assert live == 0
    assert _user("eve@example.com").tokens_valid_after <= clock.now()


def test_a_user_is_renamed_disabled_enabled_and_found_by_state(app, runner, as_admin):
    person = make_person(app, runner, "fay@example.com", totp=False)
    path = f"/admin/users/{person.subject}"
    token = form_of(as_admin, path)
    assert as_admin.post(path, data={"csrf_token": token, "display_name": "  "}).status_code == 400
    assert (
        as_admin.post(path, data={"csrf_token": token, "display_name": "Fay F."}).status_code == 303
    )
    assert _user("fay@example.com").display_name == "Fay F."
    assert as_admin.post(path + "/disable", data={"csrf_token": token}).status_code == 303
    disabled = as_admin.get("/admin/users?state=disabled").get_data(as_text=True)
    assert "fay@example.com</a>" in disabled and "root@example.com</a>" not in disabled
    assert "fay@example.com</a>" not in as_admin.get("/admin/users?state=active").get_data(
        as_text=True
    )
    assert as_admin.get("/admin/users?state=gone").status_code == 400
    assert _sign_in(app, "fay@example.com")[1].status_code == 401
    page = as_admin.get(path).get_data(as_text=True)
    assert f"{path}/enable" in page and f"{path}/password" not in page
    assert as_admin.post(path + "/enable", data={"csrf_token": token}).status_code == 303
    assert _user("fay@example.com").is_active
    assert _signed_in(_sign_in(app, "fay@example.com")[0])


def test_a_delegated_admin_cannot_touch_someone_holding_more(app, http, runner, admin_user):
    assert (
        runner(
            "roles",
            "create",
            "helpdesk",
            "--scope",
            "users:read users:write roles:read roles:write",
        ).exit_code
        == 0
    )
    clerk = make_person(app, runner, "clerk@example.com", "helpdesk")
    sign_in_with_code(http, clerk)
    root = f"/admin/users/{admin_user.subject}"
    token = form_of(http, "/admin/users/new")
    # Neither a new admin, nor the admin's password, sessions or a link to set it.
    made = http.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "email": "mole@example.com",
            "roles": ["admin"],
            "password_choice": "link",
        },
    )
    assert made.status_code == 403 and _user("mole@example.com") is None
    reset = http.post(root + "/password", data={"csrf_token": token, "password": NEW_PASSWORD})
    assert reset.status_code == 400 and "you do not hold" in reset.get_data(as_text=True)
    assert http.post(root + "/password-link", data={"csrf_token": token}).status_code == 303
    assert http.post(root + "/sign-out", data={"csrf_token": token}).status_code == 303
    assert db.session.scalar(select(func.count()).select_from(PasswordReset)) == 0
    # The admin's password still works (the second factor is asked next).
    assert _sign_in(app, admin_user.email)[1].headers["Location"] == "/login/mfa"
    refusals = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "rbac:escalation:refused")
    )
    assert refusals == 4
    # Someone holding no more than the clerk is within reach.
    person = make_person(app, runner, "gus@example.com", totp=False)
    link = http.post(f"/admin/users/{person.subject}/password-link", data={"csrf_token": token})
    assert link.status_code == 200 and _link_of(link.get_data(as_text=True))


def test_an_auditor_sees_users_but_changes_nothing(app, http, runner):
    auditor = make_person(app, runner, "audit@example.com", "auditor")
    sign_in_with_code(http, auditor)
    page = http.get(f"/admin/users/{auditor.subject}").get_data(as_text=True)
    assert "Create user" not in http.get("/admin/users").get_data(as_text=True)
    assert "/password" not in page and "/sign-out" not in page
    assert http.get("/admin/users/new").status_code == 403
    token = csrf_of(page) if 'name="csrf_token"' in page else ""
    assert (
        http.post(
            f"/admin/users/{auditor.subject}/sign-out", data={"csrf_token": token}
        ).status_code
        == 403
    )


def test_a_link_dies_when_its_person_gains_permissions(app, http, runner, admin_user):
    """A helpdesk link for someone holding nothing must not take over that person once they
    are made admin (or their role grows)."""
    assert runner("roles", "create", "helpdesk", "--scope",
                  "users:read users:write roles:read audit:read").exit_code == 0  # fmt: skip
    assert runner("roles", "create", "readers", "--scope", "audit:read").exit_code == 0
    clerk = make_person(app, runner, "clerk@example.com", "helpdesk")
    gus = make_person(app, runner, "gus@example.com", totp=False)
    hal = make_person(app, runner, "hal@example.com", "readers", totp=False)
    sign_in_with_code(http, clerk)
    token = form_of(http, "/admin/users")
    links = {}
    for person in (gus, hal):
        made = http.post(f"/admin/users/{person.subject}/password-link", data={"csrf_token": token})
        links[person.email] = _link_of(made.get_data(as_text=True))
    assert runner("roles", "grant", "admin", "--user", "gus@example.com").exit_code == 0
    assert runner("roles", "update", "readers", "--add", "keys:rotate").exit_code == 0
    for link in links.values():
        gone = app.test_client().get("/" + link.split("://", 1)[1].split("/", 1)[1])
        assert gone.status_code == 400 and "used already" in gone.get_data(as_text=True)


def test_nul_characters_get_a_400_page_not_a_database_error(app, runner, as_admin):
    person = make_person(app, runner, "ivy@example.com", totp=False)
    token = form_of(as_admin, "/admin/users/new")
    for method, path, data in [
        ("get", "/admin/roles?q=%00", None),
        ("get", "/admin/users?q=a%00", None),
        ("post", "/admin/users/new", {"email": "j@example.com", "display_name": "a\x00b"}),
        ("post", "/admin/users/new", {"email": "j@example.com", "roles": ["x\x00"]}),
        ("post", f"/admin/users/{person.subject}", {"display_name": "i\x00vy"}),
        ("post", "/admin/roles/new", {"name": "r", "description": "d\x00"}),
        ("post", "/admin/apikeys", {"owner": "a\x00@b.c", "scopes": ["x"]}),
        ("post", f"/admin/users/{person.subject}/roles/%00/revoke", {}),
    ]:  # fmt: skip
        answer = getattr(as_admin, method)(path, data=data and {"csrf_token": token, **data})
        assert answer.status_code == 400, (path, answer.status_code)
        assert "NUL" in answer.get_data(as_text=True)
    assert _user("j@example.com") is None
    assert _user("ivy@example.com").display_name == "ivy"
