"""/admin/gateway: the route rules of ``/gateway/check`` in the order they are tried, add, edit
and delete one (after a confirmation), and a dry run (which rule a request would meet, and why
each earlier one was passed over); /admin/gateway/usage: the busiest keys and clients, the API
keys nobody used in 30 days, and per key or client its requests by outcome (a chart drawn on
the server, with the same numbers as a table) and its limits.

Reading needs gateway:read, changing a rule gateway:write; a key's limits need apikeys:write and
a client's clients:write, as every other change to them does."""

from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import urlencode

from flask import flash, make_response, redirect, render_template, request
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response

from authserver.admin import charts
from authserver.admin.access import admin_page, caller_of, can, confirmed, paged, require
from authserver.admin.blueprint import bp
from authserver.admin.forms import DryRunForm, LimitsForm, RuleForm
from authserver.admin.limits import limits_form, save_limits, write_permission
from authserver.apikeys.service import UNUSED_AFTER, find_api_key, unused_keys
from authserver.clients.service import find_client_any
from authserver.gateway.decision import explain
from authserver.gateway.limits import limits_of
from authserver.gateway.rules import (
    CREDENTIAL_KINDS,
    DEFAULT_CREDENTIALS,
    METHOD_ORDER,
    RuleSpec,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    update_rule,
)
from authserver.models import ApiKey, Client, GatewayRule, User
from authserver.platform import clock
from authserver.platform.errors import AuthServerError, InvalidInput, NotFound
from authserver.platform.extensions import db
from authserver.rbac.permissions import Permission
from authserver.usage import GATEWAY_OUTCOMES, gateway_series, top_gateway_principals
from authserver.web.errors import roll_back

TOP = 10
_PRINCIPAL_KINDS = ("apikey", "client")


def _words(text: str | None) -> tuple[str, ...]:
    return tuple((text or "").replace(",", " ").split())


def _can_write(user: User) -> bool:
    return can(user, Permission.GATEWAY_WRITE)


def _not_found(message: str = "No such gateway rule.") -> Response:
    return make_response(render_template("error.html", message=message), 404)


def _form_error(form: RuleForm | DryRunForm) -> str:
    for name, messages in form.errors.items():
        if name == "csrf_token":
            return "The form expired; try again."
        return f"{form[name].label.text}: {messages[0]}"
    return "Check the rule."


# -- rules ------------------------------------------------------------------------------------


def _spec(form: RuleForm) -> RuleSpec:
    return RuleSpec(
        name=form.name.data or "",
        path=form.path.data or "",
        host=form.host.data or "",
        methods=_words(" ".join(form.methods.data or ())),
        scopes=_words(form.scopes.data),
        scope_match=form.scope_match.data,
        credentials=tuple(form.credentials.data or ()),
        audience=form.audience.data or None,
        forward_token=bool(form.forward_token.data),
        enabled=bool(form.enabled.data),
        description=form.description.data or "",
    )


def _filled(rule: GatewayRule) -> RuleForm:
    return RuleForm(formdata=None, name=rule.name, host=rule.host, path=rule.path,
                    methods=list(rule.methods), scopes=" ".join(rule.scopes),
                    scope_match=rule.scope_match, credentials=list(rule.credentials),
                    audience=rule.audience or "", forward_token=rule.forward_token,
                    enabled=rule.enabled, description=rule.description,
                    position=rule.position)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DryRun:
    method: str
    host: str
    path: str
    rule: GatewayRule | None
    passed_over: tuple[tuple[str, str], ...]
    # Set when the request is denied before any rule is tried (a path read two ways).
    refused: str | None = None


def _dry_run(form: DryRunForm, rules: list[GatewayRule]) -> tuple[DryRun | None, str | None]:
    """(what the request would meet, None), or (None, what is wrong with the question)."""
    if not form.validate():
        return None, _form_error(form)
    url = form.url.data.strip()
    try:
        original, match = explain(form.method.data, url, rules)
    except InvalidInput as e:
        if e.description.startswith("url:"):
            return None, "URL: not a URL"
        return DryRun(form.method.data, "", url, None, (), e.description), None
    by_id = {rule.rule_id: rule for rule in rules}
    found = by_id.get(match.rule.rule_id) if match.rule is not None else None
    return DryRun(original.method, original.host, original.path, found, match.passed_over), None


def _rules_page(user: User, form: RuleForm, error: str | None = None,
                status: int = 200) -> Response:  # fmt: skip
    rules = list_rules()
    dry_form = DryRunForm(formdata=request.args if "url" in request.args else None)
    dry, dry_error = (None, None)
    if "url" in request.args:
        dry, dry_error = _dry_run(dry_form, rules)
        if dry_error and status == 200:
            status = 400
    page = render_template(
        "admin/gateway.html", rules=rules, form=form, error=error, can_write=_can_write(user),
        dry_form=dry_form, dry=dry, dry_error=dry_error, credential_kinds=CREDENTIAL_KINDS,
        methods=METHOD_ORDER,
    )  # fmt: skip
    return make_response(page, status)


def _new_rule_form() -> RuleForm:
    return RuleForm(formdata=None, enabled=True, credentials=list(DEFAULT_CREDENTIALS))


@bp.get("/gateway")
@admin_page(Permission.GATEWAY_READ)
def gateway(user: User) -> Response:
    return _rules_page(user, _new_rule_form())


@bp.post("/gateway")
@admin_page(Permission.GATEWAY_READ)
def gateway_rule_create(user: User) -> Response:
    require(user, Permission.GATEWAY_WRITE)
    form = RuleForm()
    if not form.validate_on_submit():
        return _rules_page(user, form, _form_error(form), 400)
    try:
        rule = create_rule(_spec(form), position=form.position.data, caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        return _rules_page(user, form, e.description, e.status if e.status == 403 else 400)
    db.session.commit()
    flash(f"Rule {rule.name} added at position {rule.position}.")
    return redirect("/admin/gateway", code=303)


def _find(rule_id: str) -> GatewayRule | None:
    try:
        return get_rule(rule_id)
    except NotFound:
        return None


def _rule_page(user: User, rule: GatewayRule, form: RuleForm, error: str | None = None,
               status: int = 200) -> Response:  # fmt: skip
    page = render_template("admin/gateway_rule.html", rule=rule, form=form, error=error,
                           can_write=_can_write(user),
                           credential_kinds=CREDENTIAL_KINDS, methods=METHOD_ORDER)  # fmt: skip
    return make_response(page, status)


@bp.route("/gateway/rules/<rule_id>", methods=["GET", "POST"])
@admin_page(Permission.GATEWAY_READ)
def gateway_rule(user: User, rule_id: str) -> Response:
    rule = _find(rule_id)
    if rule is None:
        return _not_found()
    if request.method == "GET":
        return _rule_page(user, rule, _filled(rule))
    require(user, Permission.GATEWAY_WRITE)
    form = RuleForm()
    if not form.validate_on_submit():
        return _rule_page(user, rule, form, _form_error(form), 400)
    try:
        update_rule(rule, _spec(form), position=form.position.data, caller=caller_of(user))
    except AuthServerError as e:
        roll_back(e)
        rule = _find(rule_id)
        if rule is None:
            return _not_found()
        return _rule_page(user, rule, form, e.description, e.status if e.status == 403 else 400)
    db.session.commit()
    flash(f"Rule {rule.name} saved.")
    return redirect("/admin/gateway", code=303)


@bp.route("/gateway/rules/<rule_id>/delete", methods=["GET", "POST"])
@admin_page(Permission.GATEWAY_READ)
def gateway_rule_delete(user: User, rule_id: str) -> Response:
    require(user, Permission.GATEWAY_WRITE)
    rule = _find(rule_id)
    if rule is None:
        return _not_found()
    name = rule.name

    def perform() -> str:
        delete_rule(rule, caller=caller_of(user))
        return f"Rule {name} deleted."

    return confirmed(title=f"Delete gateway rule {name}?",
                     warning=f"Requests this rule lets through ({rule.host or 'any host'}"
                     f"{rule.path}) are decided by the rules after it from now on, or denied "
                     "when none matches. This cannot be undone.",
                     action=f"/admin/gateway/rules/{rule.rule_id}/delete", button="Delete",
                     back=f"/admin/gateway/rules/{rule.rule_id}", done="/admin/gateway",
                     perform=perform)  # fmt: skip


# -- usage ------------------------------------------------------------------------------------


def _parse_principal(text: str) -> tuple[str, str] | None:
    kind, colon, ident = text.partition(":")
    if not colon or kind not in _PRINCIPAL_KINDS or not ident or len(text) > 300:
        return None
    if any(c.isspace() or not c.isprintable() for c in ident):
        return None
    return kind, ident


def _owner_of(kind: str, ident: str) -> ApiKey | Client | None:
    return find_api_key(ident) if kind == "apikey" else find_client_any(ident)


def _names(principals: list[str]) -> dict[str, str]:
    """How each principal reads on the page: an API key by its name and owner, a client by
    its name (one query per kind, not one per row)."""
    ids = {kind: [p.partition(":")[2] for p in principals if p.startswith(kind + ":")]
           for kind in _PRINCIPAL_KINDS}  # fmt: skip
    names = {}
    if ids["apikey"]:
        for key in db.session.scalars(select(ApiKey).where(ApiKey.key_id.in_(ids["apikey"]))):
            names[f"apikey:{key.key_id}"] = _key_name(key)
    if ids["client"]:
        for client in db.session.scalars(select(Client).where(Client.client_id.in_(ids["client"]))):
            names[f"client:{client.client_id}"] = f"client {client.name}"
    return names


def _key_name(key: ApiKey) -> str:
    owner = key.owner_user.email if key.owner_user else f"client {key.owner_client_id}"
    return f"API key {key.name or key.key_id} of {owner}"


@dataclasses.dataclass(frozen=True)
class Usage:
    """One chart and its table: the rows are (period, counts in ``outcomes`` order, total)."""

    svg: Markup
    rows: list[tuple[str, list[int], int]]
    outcomes: tuple[str, ...]
    totals: list[int]


def _usage(principal: str, granularity: str, now: dt.datetime, element_id: str) -> Usage:
    if granularity == "hour":
        periods = charts.last_hours(now, 24)
        label, every, describe = "%H:00", 3, "%Y-%m-%d %H:00 UTC"
        title = f"Requests of {principal} per hour, the last 24 hours (UTC), by outcome"
    else:
        periods = charts.last_days(now, 30)
        label, every, describe = "%d %b", 5, "%Y-%m-%d"
        title = f"Requests of {principal} per day, the last 30 days (UTC), by outcome"
    series = gateway_series(principal, granularity, periods[0])
    chart = charts.stacked_bars(title=title, periods=periods, series=series,
                                outcomes=GATEWAY_OUTCOMES, label=lambda p: p.strftime(label),
                                label_every=every,
                                describe=lambda p: p.strftime(describe))  # fmt: skip
    rows = []
    for start in periods:
        counts = series.get(start, {})
        row = [counts.get(outcome, 0) for outcome in chart.outcomes]
        rows.append((start.strftime(describe), row, sum(row)))
    totals = [sum(row[1][i] for row in rows) for i in range(len(chart.outcomes))]
    svg = charts.to_svg(chart, element_id=element_id, described_by=element_id + "-table")
    return Usage(svg, rows, chart.outcomes, totals)


def _usage_page(user: User, limits: LimitsForm | None = None, limits_error: str | None = None,
                status: int = 200) -> Response:  # fmt: skip
    now = clock.now()
    top = {"day": top_gateway_principals(now - dt.timedelta(hours=24), TOP),
           "month": top_gateway_principals(now - dt.timedelta(days=30), TOP)}  # fmt: skip
    names = _names(sorted({p for rows in top.values() for p, _, _ in rows}))
    unused, cursor = paged(unused_keys(now), ApiKey.id)
    context: dict = {}
    text = request.args.get("principal", "").strip()
    if text:
        parsed = _parse_principal(text)
        if parsed is None:
            status = 400
            context["principal_error"] = ("A key or client is named apikey:<key id> or "
                                          "client:<client id>.")  # fmt: skip
        else:
            owner = _owner_of(*parsed)
            context.update(
                principal=text, owner=owner, hourly=_usage(text, "hour", now, "usage-hourly"),
                daily=_usage(text, "day", now, "usage-daily"),
                name=_names([text]).get(text, text),
            )  # fmt: skip
            if owner is not None:
                context.update(limits=limits_of(owner),
                               limits_form=limits or limits_form(owner),
                               limits_error=limits_error,
                               can_set_limits=can(user, write_permission(owner)))  # fmt: skip
    page = render_template(
        "admin/gateway_usage.html", top=top, names=names, unused=unused, next_cursor=cursor,
        args=request.args, now=now, unused_days=UNUSED_AFTER.days, **context,
    )  # fmt: skip
    return make_response(page, status)


@bp.get("/gateway/usage")
@admin_page(Permission.GATEWAY_READ)
def gateway_usage(user: User) -> Response:
    return _usage_page(user)


@bp.post("/gateway/usage")
@admin_page(Permission.GATEWAY_READ)
def gateway_limits(user: User) -> Response:
    """The limits form of the usage page of ``?principal=``."""
    text = request.args.get("principal", "").strip()
    parsed = _parse_principal(text)
    owner = _owner_of(*parsed) if parsed is not None else None
    if owner is None:
        return _not_found("No such API key or client.")
    form = LimitsForm()
    failed = save_limits(user, owner, form)
    if failed is not None:
        return _usage_page(user, form, *failed)
    flash(f"Limits of {text} saved.")
    return redirect("/admin/gateway/usage?" + urlencode({"principal": text}), code=303)
