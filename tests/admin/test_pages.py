"""The admin UI through the Flask test client: who sees which page, step-up, CSRF, and every
action's effect through the same services as the admin API."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from authserver.models import ApiKey, AuditEvent, Client, KeyState, SigningKey, User
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.admin.conftest import form_of, make_person, sign_in_with_code
from tests.mfa.conftest import sign_in_password

PAGES = [
    "/admin",
    "/admin/keys",
    "/admin/apikeys",
    "/admin/clients",
    "/admin/users",
    "/admin/roles",
    "/admin/audit",
    "/admin/webhooks",
    "/admin/keys/rotate/ES256",
]


def test_every_page_answers_an_administrator(as_admin):
    for path in PAGES:
        page = as_admin.get(path)
        assert page.status_code == 200, path
        text = page.get_data(as_text=True)
        assert 'aria-label="Administration"' in text and ">Sign out<" in text
        assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


def test_a_user_without_the_permission_gets_403_not_a_redirect(app, http, runner):
    person = make_person(app, runner, "ada@example.com", "user")
    sign_in_with_code(http, person, next_url="/account")
    for path in PAGES:
        assert http.get(path).status_code == 403, path


def test_an_auditor_reads_but_cannot_change(app, http, runner):
    auditor = make_person(app, runner, "audit@example.com", "auditor")
    sign_in_with_code(http, auditor)
    keys = http.get("/admin/keys").get_data(as_text=True)
    assert "Rotate now" not in keys and "Revoke" not in keys
    assert http.get("/admin/audit").status_code == 200
    assert http.get("/admin/keys/rotate/ES256").status_code == 403
    token = form_of(http, "/admin/apikeys")
    refused = http.post(
        "/admin/apikeys", data={"csrf_token": token, "owner": auditor.email, "scopes": "keys:read"}
    )
    assert refused.status_code == 403 and db.session.scalar(select(ApiKey)) is None


def test_admin_pages_want_a_recent_second_factor(app, http, runner, admin_user):
    sign_in_with_code(http, admin_user)
    clock.advance(16 * 60)
    stale = http.get("/admin/keys")
    assert stale.status_code == 303 and stale.headers["Location"] == "/login/mfa"
    # Without any factor: to enrolment first.
    make_person(app, runner, "new@example.com", "admin", totp=False)
    http.post("/logout", data={"csrf_token": form_of(http, "/login")})
    sign_in_password(http, email="new@example.com", next_url="/admin")
    assert http.get("/admin").headers["Location"].startswith("/account/security")


def test_posts_without_csrf_are_refused_and_change_nothing(as_admin):
    active = db.session.scalar(
        select(SigningKey).where(SigningKey.alg == "ES256", SigningKey.state == KeyState.ACTIVE)
    )
    for path, form in [
        ("/admin/keys/rotate/ES256", {}),
        (f"/admin/keys/{active.kid}/revoke", {"confirm_kid": active.kid, "reason": "x"}),
        ("/admin/apikeys", {"owner": "root@example.com", "scopes": "keys:read"}),
        ("/admin/clients", {"name": "x", "grant_types": "client_credentials"}),
    ]:
        assert as_admin.post(path, data=form).status_code == 400, path
    db.session.expire_all()
    assert (
        db.session.scalar(select(SigningKey).where(SigningKey.kid == active.kid)).state == "active"
    )
    assert db.session.scalar(select(func_count(SigningKey))) == 3


def func_count(model):  # noqa: ANN001, ANN201
    from sqlalchemy import func

    return func.count(model.id)


def test_rotate_now_then_revoke_by_typing_the_kid(as_admin):
    token = form_of(as_admin, "/admin/keys/rotate/ES256")
    done = as_admin.post("/admin/keys/rotate/ES256", data={"csrf_token": token})
    assert done.status_code == 303
    pending = db.session.scalar(select(SigningKey).where(SigningKey.state == KeyState.PENDING))
    assert pending is not None and pending.alg == "ES256"
    page = as_admin.get("/admin/keys").get_data(as_text=True)
    assert pending.kid in page and f"ES256 rotated: create_pending {pending.kid}" in page
    token = form_of(as_admin, f"/admin/keys/{pending.kid}/revoke")
    wrong = as_admin.post(
        f"/admin/keys/{pending.kid}/revoke",
        data={"csrf_token": token, "confirm_kid": pending.kid[:-1], "reason": "x"},
    )
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(SigningKey, pending.id).state == KeyState.PENDING
    right = as_admin.post(
        f"/admin/keys/{pending.kid}/revoke",
        data={"csrf_token": token, "confirm_kid": pending.kid, "reason": "leak"},
    )
    assert right.status_code == 303
    db.session.expire_all()
    assert db.session.get(SigningKey, pending.id).state == KeyState.REVOKED


def test_a_bad_schedule_shows_the_error_next_to_its_field(as_admin):
    token = form_of(as_admin, "/admin/keys")
    bad = as_admin.post(
        "/admin/keys/schedule/ES256",
        data={
            "csrf_token": token,
            "rotate_every": "30d",
            "publish_ahead": "1s",
            "retire_after": "7d",
        },
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert re.search(r'id="ES256-publish_ahead"[^>]*aria-invalid="true"', text)
    assert 'id="ES256-publish_ahead-error">publish_ahead' in text
    nonsense = as_admin.post(
        "/admin/keys/schedule/ES256",
        data={
            "csrf_token": token,
            "rotate_every": "soon",
            "publish_ahead": "1h",
            "retire_after": "7d",
        },
    )
    assert nonsense.status_code == 400 and "A duration such as" in nonsense.get_data(as_text=True)


def test_an_api_key_is_shown_once_then_rotated_and_revoked(as_admin, admin_user):
    token = form_of(as_admin, "/admin/apikeys")
    created = as_admin.post(
        "/admin/apikeys",
        data={
            "csrf_token": token,
            "owner": admin_user.email,
            "scopes": "keys:read",
            "name": "ci",
            "expires_in": "30d",
        },
    )
    assert created.status_code == 200
    plaintext = re.search(
        r'class="secret-value" value="([^"]+)"', created.get_data(as_text=True)
    ).group(1)
    assert plaintext.startswith("ask_") and created.headers["Cache-Control"] == "no-store"
    listing = as_admin.get("/admin/apikeys").get_data(as_text=True)
    assert plaintext not in listing and ">ci<" in listing
    key = db.session.scalar(select(ApiKey))
    token = form_of(as_admin, f"/admin/apikeys/{key.key_id}/rotate")
    # A grace period that is no duration: the form again, nothing rotated.
    refused = as_admin.post(
        f"/admin/apikeys/{key.key_id}/rotate", data={"csrf_token": token, "grace": "soon"}
    )
    assert refused.status_code == 400 and "a duration such as 1d" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 1
    rotated = as_admin.post(
        f"/admin/apikeys/{key.key_id}/rotate", data={"csrf_token": token, "grace": "1h"}
    )
    second = re.search(
        r'class="secret-value" value="([^"]+)"', rotated.get_data(as_text=True)
    ).group(1)
    assert second != plaintext
    token = form_of(as_admin, f"/admin/apikeys/{key.key_id}/revoke")
    assert (
        as_admin.post(f"/admin/apikeys/{key.key_id}/revoke", data={"csrf_token": token}).status_code
        == 303
    )
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).revoked_at is not None


def test_clients_are_created_edited_rotated_and_disabled(as_admin):
    token = form_of(as_admin, "/admin/clients")
    created = as_admin.post(
        "/admin/clients",
        data={
            "csrf_token": token,
            "name": "Billing",
            "grant_types": "client_credentials",
            "scope": "orders:read",
            "auth_method": "client_secret_basic",
        },
    )
    assert created.status_code == 200 and "shown only once" in created.get_data(as_text=True)
    client = db.session.scalar(select(Client).where(Client.name == "Billing"))
    path = f"/admin/clients/{client.client_id}"
    token = form_of(as_admin, path)
    bad = as_admin.post(
        path,
        data={
            "csrf_token": token,
            "name": "Billing",
            "grant_types": "authorization_code",
            "redirect_uris": "",
            "auth_method": "client_secret_basic",
        },
    )
    assert bad.status_code == 400 and "redirect_uri" in bad.get_data(as_text=True)
    good = as_admin.post(
        path,
        data={
            "csrf_token": token,
            "name": "Billing 2",
            "grant_types": "authorization_code refresh_token",
            "redirect_uris": "https://billing.example/cb",
            "scope": "openid orders:read",
            "auth_method": "client_secret_post",
            "token_quota": "600/minute burst 100",
        },
    )
    assert good.status_code == 303
    db.session.expire_all()
    client = db.session.get(Client, client.id)
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.token_quota == "600/minute burst 100" and client.introspection_quota is None
    page = as_admin.get(path).get_data(as_text=True)
    assert 'value="600/minute burst 100"' in page and "Token request quota" in page
    token = form_of(as_admin, path)
    wrong = as_admin.post(path, data={
        "csrf_token": token, "name": "Billing 2", "grant_types": "authorization_code",
        "redirect_uris": "https://billing.example/cb", "auth_method": "client_secret_post",
        "token_quota": "fast",
    })  # fmt: skip
    assert wrong.status_code == 400 and "token_quota" in wrong.get_data(as_text=True)
    assert client.token_endpoint_auth_method == "client_secret_post" and client.name == "Billing 2"
    token = form_of(as_admin, path + "/rotate-secret")
    assert "shown only once" in as_admin.post(
        path + "/rotate-secret", data={"csrf_token": token, "grace": "0s"}
    ).get_data(as_text=True)
    token = form_of(as_admin, path + "/disable")
    assert as_admin.post(path + "/disable", data={"csrf_token": token}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Client, client.id).is_active is False


def test_users_are_found_given_roles_reset_and_disabled(app, runner, as_admin):
    person = make_person(app, runner, "ada@example.com", "user")
    found = as_admin.get("/admin/users?q=ADA").get_data(as_text=True)
    assert "ada@example.com</a>" in found and "root@example.com</a>" not in found
    path = f"/admin/users/{person.subject}"
    token = form_of(as_admin, path)
    assert (
        as_admin.post(path + "/roles", data={"csrf_token": token, "role": "auditor"}).status_code
        == 303
    )
    db.session.expire_all()
    assert "auditor" in db.session.get(User, person.id).role_names
    assert (
        as_admin.post(path + "/roles/auditor/revoke", data={"csrf_token": token}).status_code == 303
    )
    token = form_of(as_admin, path + "/reset-mfa")
    assert as_admin.post(path + "/reset-mfa", data={"csrf_token": token}).status_code == 303
    token = form_of(as_admin, path + "/disable")
    assert as_admin.post(path + "/disable", data={"csrf_token": token}).status_code == 303
    db.session.expire_all()
    person = db.session.get(User, person.id)
    assert person.is_active is False and "auditor" not in person.role_names
    events = {e.event for e in db.session.scalars(select(AuditEvent))}
    assert {
        "rbac:role:granted",
        "rbac:role:revoked",
        "account:mfa:reset",
        "account:user:disabled",
    } <= events


def test_the_audit_log_filters_pages_and_exports(as_admin, runner):
    for n in range(3):
        assert runner("roles", "create", f"=cmd{n}", "--scope", "x:y").exit_code in (0, 1)
        assert runner("roles", "create", f"team-{n}", "--scope", "x:y").exit_code == 0
    page = as_admin.get("/admin/audit?event=rbac:").get_data(as_text=True)
    assert page.count("rbac:role:created") == 3 and "key:signing:created" not in page
    rows = as_admin.get("/admin/audit/export.jsonl?event=rbac:role:created")
    lines = [json.loads(line) for line in rows.get_data(as_text=True).splitlines()]
    assert [line["data"]["role"] for line in lines] == ["team-0", "team-1", "team-2"]
    assert rows.headers["Content-Disposition"] == 'attachment; filename="audit.jsonl"'
    csv_text = as_admin.get("/admin/audit/export.csv?subject=team-1").get_data(as_text=True)
    assert csv_text.splitlines()[0] == "id,at,event,actor,actor_name,outcome,data,hash"
    assert len(csv_text.splitlines()) == 2 and "team-1" in csv_text
    assert as_admin.get("/admin/audit?since=yesterday").status_code == 400


@pytest.mark.parametrize(
    "path",
    ["/admin/users/nobody", "/admin/clients/nobody", "/admin/keys/nope/revoke", "/admin/nothing"],
)
def test_unknown_things_are_404_pages(as_admin, path):
    response = as_admin.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_the_overview_counts_the_tokens_of_the_last_day(app, as_admin, make_client, get_token):
    from authserver.usage import usage_counter

    client = make_client()
    for _ in range(3):
        get_token(client)
    clock.freeze()
    usage_counter(app).flush()
    page = as_admin.get("/admin").get_data(as_text=True)
    assert re.search(r"<dt>Tokens issued</dt>\s*<dd>3 ", page)
    clock.advance(26 * 3600)  # a day later they no longer count
    sign_in_with_code(
        as_admin, db.session.scalar(select(User).where(User.email == "root@example.com"))
    )
    page = as_admin.get("/admin").get_data(as_text=True)
    assert re.search(r"<dt>Tokens issued</dt>\s*<dd>0 ", page)


def test_a_delegated_admin_cannot_escalate_through_the_ui(app, http, runner, admin_user):
    """The admin UI obeys the same rule as the API: a key clerk cannot mint a key for the
    administrator, rotate the administrator's key, nor disable or reset the administrator."""
    assert runner("roles", "create", "key-clerks", "--scope", "apikeys:read apikeys:write "
                  "users:read users:write").exit_code == 0  # fmt: skip
    clerk = make_person(app, runner, "clerk@example.com", "key-clerks")
    made = runner("apikeys", "create", "--user", admin_user.email, "--scope", "keys:read", "--json")
    admin_key = json.loads(made.stdout)["id"]
    sign_in_with_code(http, clerk)
    token = form_of(http, "/admin/apikeys")
    minted = http.post("/admin/apikeys", data={
        "csrf_token": token, "owner": admin_user.email, "scopes": "apikeys:write"})  # fmt: skip
    assert minted.status_code == 403 and "needs permissions you do not hold" in minted.get_data(
        as_text=True
    )
    token = form_of(http, f"/admin/apikeys/{admin_key}/rotate")
    rotated = http.post(f"/admin/apikeys/{admin_key}/rotate",
                        data={"csrf_token": token, "grace": "0s"})  # fmt: skip
    assert rotated.status_code == 400 and "roles:write" in rotated.get_data(as_text=True)
    token = form_of(http, f"/admin/users/{admin_user.subject}/disable")
    disabled = http.post(f"/admin/users/{admin_user.subject}/disable", data={"csrf_token": token})
    assert disabled.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, admin_user.id).is_active
    keys = db.session.scalars(select(ApiKey)).all()
    assert [k.key_id for k in keys] == [admin_key] and keys[0].replaced_by_key_id is None
    refusals = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "rbac:escalation:refused")
    ).all()
    assert len(refusals) == 3 and {r.actor for r in refusals} == {f"user:{clerk.subject}"}
    # The refusal's message named the admin by email; the record names them by subject.
    targets = [r.data["target"] for r in refusals]
    assert admin_user.actor in targets and "root@example.com" not in str(targets)


def test_a_schedule_change_is_audited_alike_from_the_ui_the_api_and_the_cli(as_admin, runner):
    # One owner (keys.schedule.set_schedule) writes the record: the same fields from each face.
    token = form_of(as_admin, "/admin/keys")
    durations = {"rotate_every": "20d", "publish_ahead": "2d", "retire_after": "3d"}
    saved = as_admin.post("/admin/keys/schedule/ES256", data={"csrf_token": token, **durations})
    assert saved.status_code == 303
    assert runner("keys", "schedule", "--alg", "ES256", "--rotate-every", "21d").exit_code == 0
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "key:schedule:changed").order_by(AuditEvent.id)
    ).all()
    from_ui, from_cli = events[-2], events[-1]
    day = 86400
    assert from_ui.data["algs"] == ["ES256"] and from_ui.actor.startswith("user:")
    assert {k: v for k, v in from_ui.data.items() if k.endswith("_seconds")} == {
        "rotate_every_seconds": 20 * day, "publish_ahead_seconds": 2 * day,
        "retire_after_seconds": 3 * day,
    }  # fmt: skip
    assert from_cli.actor == "cli" and from_cli.data["rotate_every_seconds"] == 21 * day
    assert {k for k in from_cli.data if k.endswith("_seconds")} == {"rotate_every_seconds"}


def test_audit_details_read_as_words_not_python_reprs(as_admin, runner):
    assert runner("roles", "create", "readers", "--scope", "x:read", "--require-mfa").exit_code == 0
    page = as_admin.get("/admin/audit?event=account:session:started").get_data(as_text=True)
    assert "amr</b> " in page and "[&#39;" not in page and "['" not in page  # a list, joined
    created = as_admin.get("/admin/audit?event=rbac:role:created").get_data(as_text=True)
    assert "True" not in created and "False" not in created


def test_durations_on_the_keys_page_are_written_as_people_write_them(as_admin, runner):
    set_ = runner("keys", "schedule", "--alg", "ES256", "--publish-ahead", "661s")
    assert set_.exit_code == 0, set_.output
    page = as_admin.get("/admin/keys").get_data(as_text=True)
    assert 'value="11m 1s"' in page and "661s" not in page


def test_a_person_is_erased_after_the_email_is_typed_again(app, runner, as_admin):
    person = make_person(app, runner, "ada@example.com", "user")
    path = f"/admin/users/{person.subject}"
    assert "Erase this person" in as_admin.get(path).get_data(as_text=True)
    warning = as_admin.get(path + "/erase").get_data(as_text=True)
    assert "This cannot be undone" in warning and "ada@example.com" in warning
    token = form_of(as_admin, path + "/erase")
    wrong = as_admin.post(path + "/erase", data={"csrf_token": token, "confirm_email": "ada@"})
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    assert (
        as_admin.post(path + "/erase", data={"confirm_email": "ada@example.com"}).status_code == 400
    )
    db.session.expire_all()
    assert db.session.get(User, person.id).erased_at is None  # nothing erased yet
    done = as_admin.post(path + "/erase", data={"csrf_token": token,
                                                "confirm_email": " ADA@example.com "})  # fmt: skip
    assert done.status_code == 303 and done.headers["Location"] == "/admin/users"
    db.session.expire_all()
    erased = db.session.get(User, person.id)
    assert erased.erased_at is not None and erased.email.endswith("@erased.invalid")
    assert as_admin.get(path).status_code == 404
    assert "ada@example.com" not in as_admin.get("/admin/users").get_data(as_text=True)
    audit = as_admin.get("/admin/audit?event=account:data:erased").get_data(as_text=True)
    assert "account:data:erased" in audit and "root@example.com" in audit  # who erased


def test_erasing_needs_its_own_permission(app, runner, http):
    clerk = make_person(app, runner, "clerk@example.com", "auditor")
    person = make_person(app, runner, "ada@example.com", "user", totp=False)
    runner("roles", "create", "people", "--scope", "users:read users:write")
    runner("roles", "grant", "people", "--user", "clerk@example.com")
    sign_in_with_code(http, clerk)
    page = http.get(f"/admin/users/{person.subject}").get_data(as_text=True)
    assert "Erase this person" not in page
    assert http.get(f"/admin/users/{person.subject}/erase").status_code == 403
