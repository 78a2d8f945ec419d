"""The API-key pages through the Flask test client: the owner picked from a search (``%`` and
``_`` taken literally), the scopes offered exactly those the service would allow (the owner's
permissions an administrator may confer), a posted scope beyond them refused by the service with
nothing written, the list searched and filtered, and the same filters on GET /api/v1/api-keys."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import get_args

import pytest
from sqlalchemy import func, select

from authserver.api.v1.schemas import ApiKeyStateName
from authserver.apikeys.service import KEY_STATES
from authserver.audit.tags import Tag
from authserver.models import ApiKey, AuditEvent, Client, User
from authserver.platform import clock
from authserver.platform.extensions import db
from tests.admin.conftest import form_of, make_person, sign_in_with_code
from tests.api.conftest import ADMIN, Api

NEW = "/admin/apikeys/new"


def _role(runner, name: str, *permissions: str) -> None:
    made = runner("roles", "create", name, *[a for p in permissions for a in ("--scope", p)])
    assert made.exit_code == 0, made.output


def _client(runner, name: str, *roles: str) -> Client:
    args = ["clients", "create", "--name", name, "--json"]
    for role in roles:
        args += ["--role", role]
    made = runner(*args)
    assert made.exit_code == 0, made.output
    client_id = json.loads(made.stdout)["client_id"]
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def _key(runner, *owner: str, scope: str = "keys:read", name: str = "ci") -> ApiKey:
    made = runner("apikeys", "create", *owner, "--scope", scope, "--name", name, "--json")
    assert made.exit_code == 0, made.output
    return db.session.scalar(select(ApiKey).where(ApiKey.key_id == json.loads(made.stdout)["id"]))


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _offered(page: str) -> list[str]:
    return re.findall(r'<input type="checkbox" name="scopes" value="([^"]+)"', page)


def _picked(page: str) -> list[str]:
    """The owners a search lists, as the links to step 2 name them."""
    return re.findall(r'href="/admin/apikeys/new\?owner=([^"]+)"', page)


def _ref(owner: User | Client) -> str:
    if isinstance(owner, User):
        return f"user%3A{owner.subject}"
    return f"client%3A{owner.client_id}"


def _count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(ApiKey))


def test_the_owner_search_finds_users_and_clients_taking_wildcards_literally(app, runner, as_admin):
    ann = make_person(app, runner, "ann_x@example.com", totp=False)
    any_x = make_person(app, runner, "annyx@example.com", totp=False)
    gone = make_person(app, runner, "ann_x.gone@example.com", totp=False)
    assert runner("users", "disable", gone.email).exit_code == 0
    half = _client(runner, "Billing 50%")
    full = _client(runner, "Billing 500")

    assert sorted(_picked(_text(as_admin.get(NEW + "?owner_q=ANN")))) == sorted(
        [_ref(ann), _ref(any_x)])  # fmt: skip
    # ``_`` and ``%`` are characters, not wildcards; disabled owners are not offered.
    assert _picked(_text(as_admin.get(NEW + "?owner_q=n_x"))) == [_ref(ann)]
    assert _picked(_text(as_admin.get(NEW + "?owner_q=50%25"))) == [_ref(half)]
    assert sorted(_picked(_text(as_admin.get(NEW + "?owner_q=billing")))) == sorted(
        [_ref(half), _ref(full)])  # fmt: skip
    by_id = _text(as_admin.get(NEW + f"?owner_q={full.client_id[3:].upper()}"))
    assert _picked(by_id) == [_ref(full)]
    nothing = as_admin.get(NEW + "?owner_q=zz%5C")
    assert nothing.status_code == 200 and _picked(_text(nothing)) == []
    assert "No active user's email contains" in _text(nothing)
    assert as_admin.get(NEW + "?owner_q=%00zz").status_code == 400  # web/storable.py
    # No search yet: the search form only, labelled.
    empty = _text(as_admin.get(NEW))
    assert '<label for="owner_q">' in empty and _picked(empty) == []


def test_the_scopes_offered_are_the_owners_that_the_admin_may_confer(app, runner, as_admin):
    _role(runner, "readers", "keys:read", "audit:read")
    _role(runner, "orders", "orders:read")
    reader = _client(runner, "reader", "readers")
    page = _text(as_admin.get(f"{NEW}?owner=client:{reader.client_id}"))
    assert _offered(page) == ["audit:read", "keys:read"]
    assert f"client reader (<code>{reader.client_id}</code>)" in page
    # A client holding a permission the admin (every server permission) lacks: nothing, and why.
    orders = _client(runner, "orders client", "orders", "readers")
    page = _text(as_admin.get(f"{NEW}?owner=client:{orders.client_id}"))
    assert _offered(page) == [] and "Create API key</button>" not in page
    assert "needs permissions you do not hold: orders:read" in page
    # An owner without permissions: nothing to offer, said in words.
    bare = make_person(app, runner, "bare@example.com", totp=False)
    page = _text(as_admin.get(f"{NEW}?owner=user:{bare.subject}"))
    assert _offered(page) == [] and "the owner holds no permissions" in page
    # A disabled owner gets no keys.
    assert runner("users", "disable", bare.email).exit_code == 0
    page = _text(as_admin.get(f"{NEW}?owner=user:{bare.subject}"))
    assert _offered(page) == [] and "is disabled" in page
    for ref in ["nobody", "user:nobody", "client:", "client:" + "x" * 100, "user:\x00"]:
        missing = as_admin.get(NEW, query_string={"owner": ref})
        assert missing.status_code == 400 and 'role="alert"' in _text(missing), ref


def test_a_key_is_created_for_a_picked_owner_with_ticked_scopes_and_limits(app, runner, as_admin):
    _role(runner, "readers", "keys:read", "audit:read")
    reader = _client(runner, "reader", "readers")
    path = f"{NEW}?owner=client:{reader.client_id}"
    page = _text(as_admin.get(path))
    for field in ["name", "expires_in", "rate_limit", "quota", "quota_period"]:
        assert f'<label for="{field}">' in page, field
    assert 'value="90d"' in page
    created = as_admin.post("/admin/apikeys", data={
        "csrf_token": form_of(as_admin, path), "owner": f"client:{reader.client_id}",
        "scopes": ["keys:read", "audit:read"], "name": "nightly", "expires_in": "30d",
        "rate_limit": "10/second", "quota": "1000", "quota_period": "day",
    })  # fmt: skip
    assert created.status_code == 200 and "shown only once" in _text(created)
    key = db.session.scalar(select(ApiKey))
    assert (key.owner_client_pk, key.scope, key.name) == (
        reader.id,
        "keys:read audit:read",
        "nightly",
    )
    assert (key.rate_limit, key.quota_limit, key.quota_period) == ("10/second", 1000, "day")
    lifetime = key.expires_at - key.created_at
    assert abs(lifetime - dt.timedelta(days=30)) < dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("scopes", "extra", "status", "message"),
    [
        # Held by the admin, not by the owner: the service's scope rule.
        (["keys:read", "users:write"], {}, 400, "the owner does not hold users:write"),
        # Held by neither: the no-escalation rule (403, as on every face).
        (["orders:read"], {}, 403, "needs permissions you do not hold: orders:read"),
        ([], {}, 400, "an API key needs at least one scope"),
        (["keys:read"], {"expires_in": "soon"}, 400, "Expires in: a duration"),
        # The key is made, then its limits are refused: neither is kept.
        (["keys:read"], {"rate_limit": "fast"}, 400, "rate_limit:"),
        (["keys:read"], {"quota": "lots"}, 400, "Quota (requests)"),
        (["keys:read"], {"quota_period": "day"}, 400, "only with a quota"),
    ],
)
def test_a_post_beyond_the_offer_is_refused_and_writes_no_key(
    app, runner, as_admin, scopes, extra, status, message
):
    _role(runner, "readers", "keys:read")
    reader = _client(runner, "reader", "readers")
    refused = as_admin.post("/admin/apikeys", data={
        "csrf_token": form_of(as_admin, "/admin/apikeys"), "owner": f"client:{reader.client_id}",
        "scopes": scopes, "name": "nope", **extra,
    })  # fmt: skip
    page = _text(refused)
    assert refused.status_code == status and message in page
    assert re.search(r'<p role="alert" class="error" id="create-error">', page)
    assert _offered(page) == ["keys:read"]  # the form again, to correct
    assert _count() == 0


def test_a_bad_owner_or_token_is_a_400_and_writes_nothing(as_admin, admin_user):
    token = form_of(as_admin, "/admin/apikeys")
    for owner in ["user:nobody", "nobody@example.com", "client:none", ""]:
        refused = as_admin.post("/admin/apikeys", data={
            "csrf_token": token, "owner": owner, "scopes": "keys:read"})  # fmt: skip
        assert refused.status_code == 400 and "No such user or client" in _text(refused), owner
    owner = f"user:{admin_user.subject}"
    stale = as_admin.post(
        "/admin/apikeys", data={"csrf_token": "stale", "owner": owner, "scopes": "keys:read"}
    )
    assert stale.status_code == 400 and "The form expired" in _text(stale)
    assert _count() == 0


def test_a_delegated_admin_is_offered_only_what_they_hold(app, runner, http, admin_user):
    _role(runner, "key-clerk", "apikeys:read", "apikeys:write", "keys:read")
    _role(runner, "readers", "keys:read")
    _role(runner, "wider", "keys:read", "audit:read")
    clerk = make_person(app, runner, "clerk@example.com", "key-clerk")
    narrow = _client(runner, "narrow", "readers")
    wide = _client(runner, "wide", "wider")
    sign_in_with_code(http, clerk, next_url="/admin/apikeys")

    assert _offered(_text(http.get(f"{NEW}?owner=client:{narrow.client_id}"))) == ["keys:read"]
    assert _offered(_text(http.get(f"{NEW}?owner=user:{clerk.subject}"))) == [
        "apikeys:read", "apikeys:write", "keys:read"]  # fmt: skip
    for owner in [wide, admin_user]:
        ref = f"client:{owner.client_id}" if isinstance(owner, Client) else f"user:{owner.subject}"
        page = _text(http.get(f"{NEW}?owner={ref}"))
        assert _offered(page) == [] and "needs permissions you do not hold" in page
    # Posting past the offer anyway: the service refuses it, records the attempt, keeps nothing.
    refused = http.post("/admin/apikeys", data={
        "csrf_token": form_of(http, "/admin/apikeys"), "owner": f"client:{wide.client_id}",
        "scopes": "keys:read"})  # fmt: skip
    assert refused.status_code == 403 and _count() == 0
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.event == Tag.ESCALATION_REFUSED))
    made = http.post("/admin/apikeys", data={
        "csrf_token": form_of(http, "/admin/apikeys"), "owner": f"client:{narrow.client_id}",
        "scopes": "keys:read"})  # fmt: skip
    assert made.status_code == 200 and _count() == 1


def test_an_auditor_sees_the_list_but_no_create_page(app, runner, http):
    auditor = make_person(app, runner, "audit@example.com", "auditor")
    sign_in_with_code(http, auditor, next_url="/admin/apikeys")
    listing = _text(http.get("/admin/apikeys"))
    assert 'href="/admin/apikeys/new"' not in listing and '<label for="q">' in listing
    assert http.get(NEW).status_code == 403
    assert http.get(NEW + "?owner_q=a").status_code == 403


def _listed(page: str) -> list[str]:
    return sorted(re.findall(r'<td data-label="Name">([^<]*)</td>', page))


def test_the_list_is_searched_and_filtered_by_state(app, runner, as_admin, admin_user):
    _role(runner, "readers", "keys:read")
    billing = _client(runner, "Billing", "readers")
    active = _key(runner, "--user", admin_user.email, name="deploy bot")
    under = _key(runner, "--client", billing.client_id, name="ci_1")
    _key(runner, "--client", billing.client_id, name="cix1")
    revoked = _key(runner, "--user", admin_user.email, name="old")
    expired = _key(runner, "--user", admin_user.email, name="lapsed")
    rotated = _key(runner, "--user", admin_user.email, name="swapped")
    assert runner("apikeys", "revoke", revoked.key_id).exit_code == 0
    assert runner("apikeys", "rotate", rotated.key_id, "--grace", "1h").exit_code == 0
    db.session.get(ApiKey, expired.id).expires_at = clock.now() - dt.timedelta(seconds=1)
    db.session.commit()

    def names(**args) -> list[str]:
        page = as_admin.get("/admin/apikeys", query_string=args)
        assert page.status_code == 200, args
        return _listed(_text(page))

    assert len(names()) == 7
    assert names(q="DEPLOY") == ["deploy bot"]
    assert names(q="i_1") == ["ci_1"]  # ``_`` is a character, not a wildcard
    assert names(q="%") == []
    assert names(q=active.key_id) == ["deploy bot"]
    assert names(q=billing.client_id) == ["ci_1", "cix1"]
    assert names(q="root@") == ["deploy bot", "lapsed", "old", "swapped", "swapped"]
    assert names(state="revoked") == ["old"]
    assert names(state="expired") == ["lapsed"]
    assert names(state="rotated") == ["swapped"]
    assert names(state="active") == ["ci_1", "cix1", "deploy bot", "swapped"]
    assert names(state="active", q="CIX1") == ["cix1"]
    assert names(state="revoked", q="CIX1") == []
    assert names(owner=f"client:{billing.client_id}") == ["ci_1", "cix1"]
    assert names(owner=f"client:{billing.client_id}", q="CIX1") == ["cix1"]
    assert as_admin.get("/admin/apikeys", query_string={"q": "\x00"}).status_code == 400
    page = _text(as_admin.get("/admin/apikeys?state=revoked&q=o"))
    assert "Show every key" in page and "selected>revoked<" in page
    for bad in [{"state": "gone"}, {"owner": "nobody"}, {"cursor": "!!"}]:
        answer = as_admin.get("/admin/apikeys", query_string=bad)
        assert answer.status_code == 400 and 'role="alert"' in _text(answer), bad
    assert under.key_id in _text(as_admin.get("/admin/apikeys?q=ci_"))


def test_the_list_pages_by_keyset_keeping_its_filters(
    app, runner, as_admin, admin_user, monkeypatch
):
    monkeypatch.setattr("authserver.admin.access.PAGE_SIZE", 2)
    for n in range(3):
        _key(runner, "--user", admin_user.email, name=f"batch-{n}")
    _key(runner, "--user", admin_user.email, name="other")
    first = _text(as_admin.get("/admin/apikeys?q=batch"))
    assert _listed(first) == ["batch-0", "batch-1"]
    following = re.search(r'class="next" href="\?([^"]+)"', first).group(1)
    assert "q=batch" in following
    assert _listed(_text(as_admin.get("/admin/apikeys?" + following))) == ["batch-2"]


def test_the_api_lists_keys_by_q_state_and_owner(
    app, runner, http, make_client, get_token, admin_user
):
    api = Api(http, get_token(make_client(ADMIN))["access_token"])
    _role(runner, "readers", "keys:read")
    billing = _client(runner, "Billing", "readers")
    mine = _key(runner, "--user", admin_user.email, name="deploy bot")
    theirs = _key(runner, "--client", billing.client_id, name="ci_1")
    revoked = _key(runner, "--client", billing.client_id, name="cix1")
    assert runner("apikeys", "revoke", revoked.key_id).exit_code == 0

    def ids(query: str) -> list[str]:
        answer = api("GET", "/api-keys?" + query)
        assert answer.status_code == 200, answer.get_json()
        return sorted(item["id"] for item in answer.get_json()["items"])

    assert ids("q=DEPLOY") == [mine.key_id]
    assert ids("q=i_1") == [theirs.key_id]
    assert ids(f"q={billing.client_id}") == sorted([theirs.key_id, revoked.key_id])
    assert ids("state=revoked") == [revoked.key_id]
    assert ids(f"state=active&owner=client:{billing.client_id}") == [theirs.key_id]
    assert ids(f"owner=user:{admin_user.subject}") == [mine.key_id]
    assert ids("owner=user:nobody") == []
    for bad in ["state=gone", "owner=nobody", "owner=group:x", "q=" + "x" * 321]:
        answer = api("GET", "/api-keys?" + bad)
        assert answer.status_code == 422, bad
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    # Documented through the query schema.
    operation = http.get("/api/v1/openapi.json").get_json()["paths"]["/api-keys"]["get"]
    documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"q", "state", "owner", "cursor", "limit"} <= documented


def test_the_api_and_the_pages_name_the_same_states():
    assert get_args(ApiKeyStateName) == KEY_STATES


def test_the_owner_search_browses_only_a_directory_the_admin_may_read(app, http, runner):
    """A key clerk without users:read or clients:read finds an owner by its exact email or
    client_id, and sees no list of people or clients."""
    assert runner("roles", "create", "key-clerks", "--scope",
                  "apikeys:read apikeys:write").exit_code == 0  # fmt: skip
    clerk = make_person(app, runner, "clerk@example.com", "key-clerks")
    make_person(app, runner, "zed@example.com", totp=False)
    sign_in_with_code(http, clerk)
    browsed = http.get("/admin/apikeys/new?owner_q=%40").get_data(as_text=True)
    assert "zed@example.com" not in browsed and "No active user's email contains" in browsed
    exact = http.get("/admin/apikeys/new?owner_q=zed%40example.com").get_data(as_text=True)
    assert "zed@example.com" in exact
