"""A model-based test of the no-escalation rule (hypothesis stateful): principals holding
random subsets of permissions issue random sequences of admin-API calls (roles created and
changed, roles given and taken, clients and users created with roles, API keys issued and
rotated, client secrets rotated), each with a fresh token, through HTTP.

After every step, from the database: no principal, role or key holds a permission that the
principals which created or changed it did not hold (each permission anything gained is
"justified" by the caller that gave it, who held it), and nobody received a credential of a
principal holding more than they do. The model also predicts, from the rule, whether each call
is allowed, and the server must agree: a refusal of legitimate work fails the test as surely
as an escalation."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from authserver.clients.service import NewClient, create_client
from authserver.models import ApiKey, Client, Role, User
from authserver.platform.extensions import db
from authserver.platform.runtime import current_settings
from authserver.rbac.containment import OPERATOR
from authserver.rbac.service import create_role

#: The permissions in play: enough to delegate every kind of change, and an API's scopes.
UNIVERSE = ("apikeys:write", "clients:write", "users:write", "roles:write", "orders:read",
            "orders:write")  # fmt: skip
subsets = st.sets(st.sampled_from(UNIVERSE))
#: (method, resource, outcome) seen over the whole run: proof that the run explored.
OUTCOMES: set[tuple[str, str, str]] = set()


def _held(subject: Client | User) -> set[str]:
    return {p for role in subject.roles for p in role.permission_names}


class Escalation(RuleBasedStateMachine):
    def __init__(self, http) -> None:
        super().__init__()
        self.http = http
        # client_id -> secret of the principals that act; every principal by kind and id
        self.secrets: dict[str, str] = {}
        self.justified: dict[tuple[str, str], set[str]] = {}  # ("client"|"user", id)
        self.role_justified: dict[str, set[str]] = {}
        self.key_justified: dict[str, set[str]] = {}
        self.rotated_keys: set[str] = set()

    actors = Bundle("actors")  # client ids of the principals that call the API
    principals = Bundle("principals")  # ("client" | "user", id) made through the API
    roles = Bundle("roles")
    keys = Bundle("keys")
    anyone = st.one_of(actors.map(lambda a: ("client", a)), principals)

    # --- reading the truth -------------------------------------------------------------------

    def _subject(self, principal: tuple[str, str]) -> Client | User:
        db.session.expire_all()
        kind, ident = principal
        if kind == "client":
            return db.session.scalar(select(Client).where(Client.client_id == ident))
        return db.session.scalar(select(User).where(User.subject == ident))

    def perms(self, principal: tuple[str, str]) -> set[str]:
        return _held(self._subject(principal))

    def role_perms(self, name: str) -> set[str]:
        db.session.expire_all()
        return set(db.session.scalar(select(Role).where(Role.name == name)).permission_names)

    def snapshot(self) -> dict:
        return {
            "principals": {p: self.perms(p) for p in self.justified},
            "roles": {r: self.role_perms(r) for r in self.role_justified},
        }

    # --- calling the API as an actor ---------------------------------------------------------

    def call(self, actor: str, method: str, path: str, body: dict | None = None):
        token = self.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(actor, self.secrets[actor]))  # fmt: skip
        assert token.status_code == 200, token.get_json()
        headers = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
        if method == "PATCH":
            headers["If-Match"] = "*"
        return self.http.open("/api/v1" + path, method=method, json=body, headers=headers)

    def attempt(self, actor: str, allowed: bool, method: str, path: str, body=None, *,
                ok: int, otherwise: int = 403):  # fmt: skip
        """Make the call; the server must agree with the model; on success, whatever anything
        gained must be held by the actor (it is justified by it)."""
        held = self.perms(("client", actor))
        before = self.snapshot()
        response = self.call(actor, method, path, body)
        expected = ok if allowed else otherwise
        assert response.status_code == expected, (method, path, body, held, response.get_json())
        OUTCOMES.add((method, path.split("/")[1], "done" if response.status_code < 300 else
                      "refused" if response.status_code == 403 else "invalid"))  # fmt: skip
        if response.status_code < 300:
            self._justify(before, held)
        return response

    def _justify(self, before: dict, held: set[str]) -> None:
        for principal, had in before["principals"].items():
            gained = self.perms(principal) - had
            self.justified[principal] |= gained & held
        for name, had in before["roles"].items():
            gained = self.role_perms(name) - had
            self.role_justified[name] |= gained & held

    # --- the operator sets the scene ---------------------------------------------------------

    @initialize(target=actors, permissions=st.lists(subsets, min_size=2, max_size=3))
    def make_actors(self, permissions):
        made = []
        for held in permissions:
            name = f"actor-{secrets.token_hex(4)}"
            create_role(name, sorted(held), caller=OPERATOR)
            client, secret = create_client(
                current_settings(),
                NewClient(name=name, scope=" ".join(UNIVERSE), roles=(name,)),
                caller=OPERATOR,
            )
            db.session.commit()
            self.secrets[client.client_id] = secret
            self.justified[("client", client.client_id)] = set(held)
            self.role_justified[name] = set(held)
            made.append(client.client_id)
        return multiple(*made)

    # --- the rules ---------------------------------------------------------------------------

    @rule(target=roles, actor=actors, permissions=subsets)
    def create_a_role(self, actor, permissions):
        held = self.perms(("client", actor))
        name = f"role-{secrets.token_hex(4)}"
        allowed = "roles:write" in held and permissions <= held
        response = self.attempt(
            actor,
            allowed,
            "POST",
            "/roles",
            {"name": name, "permissions": sorted(permissions)},
            ok=201,
        )
        if response.status_code == 201:
            self.role_justified[name] = set(permissions) & held
            return name
        return multiple()

    @rule(actor=actors, role=roles, permissions=subsets)
    def add_to_a_role(self, actor, role, permissions):
        held = self.perms(("client", actor))
        allowed = "roles:write" in held and self.role_perms(role) <= held and permissions <= held
        self.attempt(actor, allowed, "PATCH", f"/roles/{role}",
                     {"add_permissions": sorted(permissions)}, ok=200)  # fmt: skip

    @rule(actor=actors, role=roles, whom=anyone)
    def give_a_role(self, actor, role, whom):
        held = self.perms(("client", actor))
        allowed = ("roles:write" in held and self.role_perms(role) <= held
                   and self.perms(whom) <= held)  # fmt: skip
        kind, ident = whom
        path = f"/roles/{role}/{'clients' if kind == 'client' else 'users'}/{ident}"
        self.attempt(actor, allowed, "PUT", path, ok=204)

    @rule(actor=actors, role=roles, whom=anyone)
    def take_a_role(self, actor, role, whom):
        held = self.perms(("client", actor))
        allowed = "roles:write" in held and self.perms(whom) <= held
        kind, ident = whom
        path = f"/roles/{role}/{'clients' if kind == 'client' else 'users'}/{ident}"
        self.attempt(actor, allowed, "DELETE", path, ok=204)

    def _with_roles(self, actor, chosen, permission: str) -> tuple[bool, set[str]]:
        held = self.perms(("client", actor))
        carried = set().union(*(self.role_perms(r) for r in chosen)) if chosen else set()
        allowed = permission in held and (not chosen or ("roles:write" in held and carried <= held))
        return allowed, held

    @rule(target=principals, actor=actors, chosen=st.lists(roles, max_size=2, unique=True))
    def create_a_client(self, actor, chosen):
        allowed, held = self._with_roles(actor, chosen, "clients:write")
        body = {"name": f"made-{secrets.token_hex(3)}", "roles": chosen,
                "scope": " ".join(UNIVERSE)}  # fmt: skip
        response = self.attempt(actor, allowed, "POST", "/clients", body, ok=201)
        if response.status_code != 201:
            return multiple()
        principal = ("client", response.get_json()["client_id"])
        self.justified[principal] = self.perms(principal) & held
        return principal

    @rule(target=principals, actor=actors, chosen=st.lists(roles, max_size=2, unique=True))
    def create_a_user(self, actor, chosen):
        allowed, held = self._with_roles(actor, chosen, "users:write")
        body = {"email": f"u-{secrets.token_hex(4)}@example.com", "roles": chosen,
                "password": "a long enough passphrase"}  # fmt: skip
        response = self.attempt(actor, allowed, "POST", "/users", body, ok=201)
        if response.status_code != 201:
            return multiple()
        principal = ("user", response.get_json()["id"])
        self.justified[principal] = self.perms(principal) & held
        return principal

    @rule(target=keys, actor=actors, owner=anyone, scopes=subsets)
    def issue_a_key(self, actor, owner, scopes):
        held, owner_held = self.perms(("client", actor)), self.perms(owner)
        # In the order the server checks: the operation's permission, the body's shape, the
        # no-escalation rule, then the key's own rule (never more than its owner holds).
        if "apikeys:write" not in held:
            expected = 403
        elif not scopes:
            expected = 422
        elif not (owner_held <= held and scopes <= held):
            expected = 403
        else:
            expected = 201 if scopes <= owner_held else 422
        kind, ident = owner
        if kind == "user":
            ident = self._subject(owner).email
        body = {f"owner_{kind}": ident, "scopes": sorted(scopes)}
        response = self.attempt(actor, expected == 201, "POST", "/api-keys", body, ok=201,
                                otherwise=expected)  # fmt: skip
        if response.status_code != 201:
            return multiple()
        # The actor now holds this key's secret: it must hold all the owner holds.
        assert owner_held <= held and scopes <= held
        key_id = response.get_json()["id"]
        self.key_justified[key_id] = set(scopes) & held
        return key_id

    @rule(actor=actors, key_id=consumes(keys))
    def rotate_a_key(self, actor, key_id):
        held = self.perms(("client", actor))
        key = db.session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
        owner = key.owner_user or key.owner_client
        permitted = ("apikeys:write" in held and _held(owner) <= held
                     and set(key.scope.split()) <= held)  # fmt: skip
        response = self.attempt(actor, permitted, "POST", f"/api-keys/{key_id}/rotations",
                                {"grace_seconds": 0}, ok=201)  # fmt: skip
        if response.status_code == 201:
            self.key_justified[response.get_json()["id"]] = set(key.scope.split()) & held

    @rule(actor=actors, whom=anyone)
    def rotate_a_secret(self, actor, whom):
        if whom[0] != "client":
            return
        held = self.perms(("client", actor))
        allowed = "clients:write" in held and self.perms(whom) <= held
        self.attempt(actor, allowed, "POST", f"/clients/{whom[1]}/secret-rotations",
                     {"grace_seconds": 60}, ok=201)  # fmt: skip

    # --- what must always hold ---------------------------------------------------------------

    @invariant()
    def nothing_holds_what_its_makers_did_not(self):
        for principal, justified in self.justified.items():
            unjustified = self.perms(principal) - justified
            assert not unjustified, (principal, unjustified)
        for name, justified in self.role_justified.items():
            assert self.role_perms(name) <= justified, (name, self.role_perms(name), justified)
        for key_id, justified in self.key_justified.items():
            key = db.session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
            assert set(key.scope.split()) <= justified, (key_id, key.scope, justified)


def test_no_principal_ever_holds_more_than_whoever_made_or_changed_it(app):
    http = app.test_client()
    run_state_machine_as_test(
        lambda: Escalation(http),
        settings=settings(
            max_examples=25, stateful_step_count=15, deadline=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )  # fmt: skip
    # Not vacuous: every kind of call both went through and was refused at some point.
    for method, resource in [("POST", "roles"), ("PATCH", "roles"), ("PUT", "roles"),
                             ("DELETE", "roles"), ("POST", "clients"), ("POST", "users"),
                             ("POST", "api-keys")]:  # fmt: skip
        assert {(method, resource, "done"), (method, resource, "refused")} <= OUTCOMES, (
            method, resource, sorted(OUTCOMES))  # fmt: skip
