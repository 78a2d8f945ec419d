"""The gateway's route rules: which requests an API gateway may let through, and with what.

A rule names a host ("" any, ``api.example.com``, ``*.example.com``), a path (a prefix that
ends at a segment boundary, ``/orders`` matching ``/orders`` and ``/orders/7`` but not
``/ordersx``; or a pattern, where ``*`` is one segment and ``**`` any number), methods (none:
any), the scopes it requires (``all`` of them or ``any`` one), the credential kinds it accepts
(``jwt``, ``dpop``, ``api_key``, ``anonymous``) and optionally the audience a JWT must carry.
Enabled rules are tried in ``position`` order; the first that matches decides, and a request
no rule matches is denied (Ory Oathkeeper's rule model, with its default deny).

The same service serves the CLI, the admin API and the admin UI; a JSON file of rules (as
``gateway rules export`` writes it) replaces them all in one transaction (``gateway rules
import``), for rules kept in Git.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import secrets
import threading
import time
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import GatewayRule
from authserver.platform import clock
from authserver.platform.errors import Conflict, InvalidInput, NotFound
from authserver.platform.extensions import db
from authserver.rbac.containment import Caller

CREDENTIAL_KINDS = ("jwt", "dpop", "api_key", "anonymous")
DEFAULT_CREDENTIALS = ("jwt", "dpop", "api_key")
SCOPE_MATCHES = ("all", "any")
# RFC 9110 §9.3's methods, in its order (a picker lists them so), and PATCH (RFC 5789).
METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
METHODS = frozenset(METHOD_ORDER)
MAX_RULES = 1000
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$")
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,200}$")  # RFC 6749 §3.3 scope-token
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,199}$")


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    """A rule as a caller writes it, checked by ``checked``."""

    name: str
    path: str = "/"
    host: str = ""
    methods: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    scope_match: str = "all"
    credentials: tuple[str, ...] = DEFAULT_CREDENTIALS
    audience: str | None = None
    forward_token: bool = False
    enabled: bool = True
    description: str = ""

    def checked(self) -> RuleSpec:
        name = (self.name or "").strip()
        if not _NAME.match(name):
            raise InvalidInput("name: 1-200 letters, digits, spaces and . _ : -")
        host = (self.host or "").strip().lower()
        if host and not _HOST.match(host):
            raise InvalidInput("host: a host name, *.example.com, or empty for any host")
        path = (self.path or "").strip()
        if not path.startswith("/") or len(path) > 1000 or any(c in path for c in "?#\\ "):
            raise InvalidInput("path: starts with /, no query, no spaces, at most 1000 chars")
        methods = tuple(dict.fromkeys(m.strip().upper() for m in self.methods if m.strip()))
        if unknown := [m for m in methods if m not in METHODS]:
            raise InvalidInput(f"methods: not an HTTP method: {', '.join(unknown)}")
        scopes = tuple(dict.fromkeys(s for s in self.scopes if s))
        if bad := [s for s in scopes if not _SCOPE.match(s)]:
            raise InvalidInput(f"scopes: not a scope: {bad[0]!r}")
        if self.scope_match not in SCOPE_MATCHES:
            raise InvalidInput("scope_match: all or any")
        credentials = tuple(dict.fromkeys(self.credentials))
        if not credentials or (unknown := [c for c in credentials if c not in CREDENTIAL_KINDS]):
            raise InvalidInput(f"credentials: one or more of {', '.join(CREDENTIAL_KINDS)}")
        if "anonymous" in credentials and scopes:
            raise InvalidInput("credentials: an anonymous rule cannot require scopes")
        audience = (self.audience or "").strip() or None
        if audience is not None and len(audience) > 2000:
            raise InvalidInput("audience: at most 2000 characters")
        if self.forward_token and audience is None and (not host or "*" in host):
            # The identity token's aud is then the original request's origin, and a client
            # chooses the Host it sends: only a host the rule pins keeps that aud honest.
            raise InvalidInput("forward_token: needs an audience, or a host without a wildcard")
        return dataclasses.replace(
            self, name=name, host=host, path=path, methods=methods, scopes=scopes,
            credentials=credentials, audience=audience, description=self.description.strip(),
        )  # fmt: skip

    @classmethod
    def of(cls, rule: GatewayRule) -> RuleSpec:
        return cls(
            name=rule.name, path=rule.path, host=rule.host, methods=tuple(rule.methods),
            scopes=tuple(rule.scopes), scope_match=rule.scope_match,
            credentials=tuple(rule.credentials), audience=rule.audience,
            forward_token=rule.forward_token, enabled=rule.enabled, description=rule.description,
        )  # fmt: skip

    def as_json(self) -> dict:
        data = dataclasses.asdict(self)
        for name in ("methods", "scopes", "credentials"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_json(cls, data: object) -> RuleSpec:
        """A rule from a file or a request body; InvalidInput names what is wrong."""
        if not isinstance(data, dict):
            raise InvalidInput("a rule is an object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if unknown := sorted(set(data) - set(fields)):
            raise InvalidInput(f"unknown rule field: {unknown[0]}")
        values: dict = {}
        for key, value in data.items():
            if key in ("methods", "scopes", "credentials"):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InvalidInput(f"{key}: a list of strings")
                value = tuple(value)
            elif key in ("forward_token", "enabled"):
                if not isinstance(value, bool):
                    raise InvalidInput(f"{key}: true or false")
            elif value is not None and not isinstance(value, str):
                raise InvalidInput(f"{key}: a string")
            values[key] = value
        if "name" not in values:
            raise InvalidInput("name: required")
        return cls(**values)


# -- matching ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CompiledRule:
    rule_id: str
    spec: RuleSpec
    _path: re.Pattern

    def host_matches(self, host: str) -> bool:
        want = self.spec.host
        if not want:
            return True
        if want.startswith("*."):
            return host.endswith(want[1:]) and len(host) > len(want) - 1
        return host == want

    def why_not(self, method: str, host: str, path: str) -> str | None:
        """None when the rule matches; else the first reason it does not (the dry run's)."""
        if not self.host_matches(host):
            return f"host {host or '(none)'} is not {self.spec.host}"
        if not self._path.fullmatch(path):
            return f"path {path} does not match {self.spec.path}"
        if self.spec.methods and method not in self.spec.methods:
            return f"method {method} is not one of {', '.join(self.spec.methods)}"
        return None


@functools.lru_cache(maxsize=4096)
def _path_regex(path: str) -> re.Pattern:
    if "*" not in path:
        if path.endswith("/"):
            return re.compile(re.escape(path) + ".*", re.DOTALL)
        return re.compile(re.escape(path) + "(/.*)?", re.DOTALL)
    parts = []
    for piece in re.split(r"(\*\*|\*)", path):
        parts.append({"**": ".*", "*": "[^/]*"}.get(piece, re.escape(piece)))
    return re.compile("".join(parts), re.DOTALL)


def compile_rule(rule_id: str, spec: RuleSpec) -> CompiledRule:
    return CompiledRule(rule_id, spec, _path_regex(spec.path))


@dataclasses.dataclass(frozen=True)
class Match:
    rule: CompiledRule | None
    # (rule name, why it did not match) for every rule tried before the one that matched.
    passed_over: tuple[tuple[str, str], ...] = ()


def first_match(rules: Sequence[CompiledRule], method: str, host: str, path: str) -> Match:
    passed = []
    for rule in rules:
        reason = rule.why_not(method, host, path)
        if reason is None:
            return Match(rule, tuple(passed))
        passed.append((rule.spec.name, reason))
    return Match(None, tuple(passed))


class RuleBook:
    """This process's enabled rules, compiled, read again after ``ttl`` seconds or at once after
    a change this process committed (``forget``)."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._rules: tuple[CompiledRule, ...] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def rules(self) -> tuple[CompiledRule, ...]:
        now = time.monotonic()
        rules = self._rules
        if rules is not None and now - self._read_at < self._ttl:
            return rules
        rows = db.session.scalars(
            select(GatewayRule).where(GatewayRule.enabled.is_(True)).order_by(GatewayRule.position)
        )
        rules = tuple(compile_rule(r.rule_id, RuleSpec.of(r)) for r in rows)
        with self._lock:
            self._rules, self._read_at = rules, now
        return rules

    def forget(self) -> None:
        with self._lock:
            self._rules = None


_books: list[RuleBook] = []


def rule_book(ttl_seconds: float) -> RuleBook:
    """The process's book (one per process: a change forgets it for every app in it)."""
    book = RuleBook(ttl_seconds)
    _books.append(book)
    return book


def _forget_everywhere() -> None:
    for book in _books:
        book.forget()


# -- management -------------------------------------------------------------------------------


def list_rules() -> list[GatewayRule]:
    return list(db.session.scalars(select(GatewayRule).order_by(GatewayRule.position)))


def get_rule(rule_id: str) -> GatewayRule:
    rule = db.session.scalar(select(GatewayRule).where(GatewayRule.rule_id == rule_id))
    if rule is None:
        rule = db.session.scalar(select(GatewayRule).where(GatewayRule.name == rule_id))
    if rule is None:
        raise NotFound(f"no gateway rule {rule_id}")
    return rule


def _apply(rule: GatewayRule, spec: RuleSpec, now: dt.datetime) -> None:
    for name in ("name", "description", "host", "path", "scope_match", "audience",
                 "forward_token", "enabled"):  # fmt: skip
        setattr(rule, name, getattr(spec, name))
    rule.methods, rule.scopes = list(spec.methods), list(spec.scopes)
    rule.credentials = list(spec.credentials)
    rule.updated_at = now


def _check_name_free(name: str, rule: GatewayRule | None = None) -> None:
    other = db.session.scalar(select(GatewayRule).where(GatewayRule.name == name))
    if other is not None and other is not rule:
        raise Conflict(f"a gateway rule is named {name} already")


def _place(position: int | None) -> int:
    """Where a new rule goes: ``position`` (1-based; later rules move down) or last."""
    count = db.session.scalar(select(func.count()).select_from(GatewayRule)) or 0
    if count >= MAX_RULES:
        raise Conflict(f"at most {MAX_RULES} gateway rules")
    if position is None or position > count:
        return count + 1
    if position < 1:
        raise InvalidInput("position: 1 or more")
    for rule in db.session.scalars(select(GatewayRule).where(GatewayRule.position >= position)):
        rule.position += 1
    return position


def _renumber() -> None:
    for index, rule in enumerate(list_rules(), start=1):
        rule.position = index


_CHANGED = "authserver.gateway_rules_changed"


def _after_change() -> None:
    db.session.flush()
    db.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _forget_everywhere()


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def create_rule(spec: RuleSpec, *, position: int | None = None, caller: Caller) -> GatewayRule:
    spec = spec.checked()
    _check_name_free(spec.name)
    now = clock.now()
    rule = GatewayRule(rule_id="gwr_" + secrets.token_hex(8), position=_place(position),
                       created_at=now)  # fmt: skip
    _apply(rule, spec, now)
    db.session.add(rule)
    _after_change()
    record(Tag.GATEWAY_RULE_CREATED, actor=caller.actor, rule=rule.rule_id, name=rule.name,
           position=rule.position, **_summary(spec))  # fmt: skip
    return rule


def update_rule(
    rule: GatewayRule, spec: RuleSpec, *, position: int | None = None, caller: Caller
) -> GatewayRule:
    spec = spec.checked()
    _check_name_free(spec.name, rule)
    _apply(rule, spec, clock.now())
    if position is not None and position != rule.position:
        _move(rule, position)
    _after_change()
    record(Tag.GATEWAY_RULE_UPDATED, actor=caller.actor, rule=rule.rule_id, name=rule.name,
           position=rule.position, **_summary(spec))  # fmt: skip
    return rule


def _move(rule: GatewayRule, position: int) -> None:
    if position < 1:
        raise InvalidInput("position: 1 or more")
    others = [r for r in list_rules() if r is not rule]
    others.insert(min(position, len(others) + 1) - 1, rule)
    for index, each in enumerate(others, start=1):
        each.position = index


def delete_rule(rule: GatewayRule, *, caller: Caller) -> None:
    db.session.delete(rule)
    db.session.flush()
    _renumber()
    _after_change()
    record(Tag.GATEWAY_RULE_DELETED, actor=caller.actor, rule=rule.rule_id, name=rule.name)


def replace_rules(specs: Iterable[RuleSpec], *, caller: Caller, source: str = "") -> int:
    """Every rule replaced by ``specs``, in their order (a file kept in Git)."""
    checked = [spec.checked() for spec in specs]
    if len(checked) > MAX_RULES:
        raise InvalidInput(f"at most {MAX_RULES} gateway rules")
    names = [spec.name for spec in checked]
    if len(set(names)) != len(names):
        raise InvalidInput("two rules have the same name")
    db.session.execute(delete(GatewayRule))
    now = clock.now()
    for position, spec in enumerate(checked, start=1):
        rule = GatewayRule(rule_id="gwr_" + secrets.token_hex(8), position=position,
                           created_at=now)  # fmt: skip
        _apply(rule, spec, now)
        db.session.add(rule)
    _after_change()
    record(Tag.GATEWAY_RULES_REPLACED, actor=caller.actor, count=len(checked),
           names=names[:100], source=source[:200])  # fmt: skip
    return len(checked)


def _summary(spec: RuleSpec) -> dict:
    return {"host": spec.host, "path": spec.path, "methods": list(spec.methods),
            "scopes": list(spec.scopes), "credentials": list(spec.credentials),
            "enabled": spec.enabled}  # fmt: skip
