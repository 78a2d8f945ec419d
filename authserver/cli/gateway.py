"""``authserver gateway``: the route rules of ``/gateway/check`` (list, add, update, remove,
import and export a JSON file, and a dry run: which rule a request matches and why), and the
limits an API key or a client carries into it. The CLI is the operator."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from authserver.apikeys.service import find_api_key
from authserver.cli.output import emit, iso, json_option, split_multi, transaction
from authserver.clients.service import find_client
from authserver.gateway.decision import explain
from authserver.gateway.limits import Limits, limits_of, set_limits
from authserver.gateway.rules import (
    CREDENTIAL_KINDS,
    DEFAULT_CREDENTIALS,
    RuleSpec,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    replace_rules,
    update_rule,
)
from authserver.models import GatewayRule
from authserver.platform.errors import InvalidInput, NotFound
from authserver.rbac.containment import OPERATOR

group = AppGroup("gateway", help="The API gateway's decision endpoint: rules and limits.")
rules = AppGroup("rules", help="Route rules of /gateway/check (first match wins; none: deny).")
group.add_command(rules)


def describe(rule: GatewayRule) -> dict:
    return {"id": rule.rule_id, "position": rule.position, **RuleSpec.of(rule).as_json(),
            "created_at": iso(rule.created_at), "updated_at": iso(rule.updated_at)}  # fmt: skip


def _line(value: dict) -> str:
    methods = ",".join(value["methods"]) or "*"
    scopes = (f" {value['scope_match']}:" + " ".join(value["scopes"])) if value["scopes"] else ""
    state = "" if value["enabled"] else "  (disabled)"
    host = value["host"] or "*"
    credentials = ",".join(value["credentials"])
    return (f"{value['position']:>3}  {value['name']}  {methods} {host}{value['path']}"
            f"  [{credentials}]{scopes}{state}")  # fmt: skip


def _rule_options(command):  # noqa: ANN001, ANN202
    options = [
        click.option("--path", help="A prefix (/orders), or a pattern with * and **."),
        click.option("--host", help="A host, *.example.com, or empty for any."),
        click.option("--method", "methods", multiple=True, help="Repeatable; none: any."),
        click.option("--scope", "scopes", multiple=True, help="Required scopes; repeatable."),
        click.option("--any-scope", is_flag=True, default=None,
                     help="One of the scopes is enough (default: all)."),  # fmt: skip
        click.option("--credential", "credentials", multiple=True,
                     type=click.Choice(CREDENTIAL_KINDS),
                     help="Accepted kinds; repeatable (default: "
                          f"{' '.join(DEFAULT_CREDENTIALS)})."),
        click.option("--audience", help="The audience a JWT must carry."),
        click.option("--forward-token/--no-forward-token", default=None,
                     help="Hand the upstream a signed identity JWT (X-Auth-Token)."),
        click.option("--enabled/--disabled", default=None),
        click.option("--description"),
        click.option("--position", type=int, help="1-based; later rules move down."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _spec(base: RuleSpec, name: str | None, **given) -> RuleSpec:  # noqa: ANN003
    values = base.as_json()
    if name is not None:
        values["name"] = name
    for key in ("path", "host", "audience", "description", "forward_token", "enabled"):
        if given.get(key) is not None:
            values[key] = given[key]
    for key in ("methods", "scopes", "credentials"):
        if given.get(key):
            values[key] = list(split_multi(given[key]))
    if given.get("any_scope") is not None:
        values["scope_match"] = "any" if given["any_scope"] else "all"
    return RuleSpec.from_json(values)


@rules.command("list")
@json_option
def list_command(as_json: bool) -> None:
    values = [describe(rule) for rule in list_rules()]
    text = "\n".join(_line(v) for v in values) or "no rules: every request is denied"
    emit(values, as_json, text)


@rules.command("add")
@click.argument("name")
@_rule_options
@json_option
def add_command(name: str, position: int | None, as_json: bool, **given) -> None:  # noqa: ANN003
    with transaction():
        rule = create_rule(_spec(RuleSpec(name=name), None, **given), position=position,
                           caller=OPERATOR)  # fmt: skip
    value = describe(rule)
    emit(value, as_json, _line(value))


@rules.command("update")
@click.argument("rule")
@click.option("--name", "new_name", help="A new name.")
@_rule_options
@json_option
def update_command(rule: str, new_name: str | None, position: int | None, as_json: bool,
                   **given) -> None:  # noqa: ANN003  # fmt: skip
    with transaction():
        found = get_rule(rule)
        update_rule(found, _spec(RuleSpec.of(found), new_name, **given), position=position,
                    caller=OPERATOR)  # fmt: skip
    value = describe(found)
    emit(value, as_json, _line(value))


@rules.command("remove")
@click.argument("rule")
@json_option
def remove_command(rule: str, as_json: bool) -> None:
    with transaction():
        found = get_rule(rule)
        delete_rule(found, caller=OPERATOR)
    emit({"id": found.rule_id, "removed": True}, as_json, f"removed {found.name}")


@rules.command("export")
def export_command() -> None:
    """Every rule as the JSON that `import` reads, in order."""
    click.echo(json.dumps({"rules": [RuleSpec.of(r).as_json() for r in list_rules()]}, indent=2))


@rules.command("import")
@click.argument("file", type=click.File("r"))
@json_option
def import_command(file, as_json: bool) -> None:  # noqa: ANN001
    """Replace every rule by those of FILE (JSON: {"rules": [...]}; - for stdin), in one
    transaction: a file that does not check changes nothing."""
    with transaction():
        try:
            data = json.load(file)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InvalidInput(f"not JSON: {e}") from None
        items = data.get("rules") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise InvalidInput('the file holds {"rules": [...]}')
        count = replace_rules([RuleSpec.from_json(item) for item in items], caller=OPERATOR,
                              source=getattr(file, "name", "") or "")  # fmt: skip
    emit({"rules": count}, as_json, f"{count} rules imported")


@rules.command("test")
@click.argument("method")
@click.argument("url")
@json_option
def test_command(method: str, url: str, as_json: bool) -> None:
    """Which rule a request (METHOD https://host/path) matches, and why the earlier ones did
    not; exit 1 when none does (the request would be denied)."""
    value = dry_run(method, url)
    matched = value["rule"]
    lines = [f"  skipped {name}: {why}" for name, why in value["passed_over"]]
    lines.append(f"matches {matched['name']} (position {matched['position']})" if matched
                 else "no rule matches: denied")  # fmt: skip
    emit(value, as_json, "\n".join(lines))
    if matched is None:
        sys.exit(1)


def dry_run(method: str, url: str) -> dict:
    try:
        explained = explain(method, url, list_rules())
    except InvalidInput as e:
        raise click.UsageError(e.description) from None
    original, match = explained
    found = describe(get_rule(match.rule.rule_id)) if match.rule is not None else None
    return {"method": original.method, "host": original.host, "path": original.path,
            "rule": found, "passed_over": [list(p) for p in match.passed_over]}  # fmt: skip


@group.command("limits")
@click.argument("credential")
@click.option("--rate-limit", help='Token buckets: "100/second burst 200;10000/day"; off.')
@click.option("--quota", type=int, help="Requests allowed until the next refill; -1: none.")
@click.option("--quota-period", type=click.Choice(["day", "month", "none"]),
              help="When the quota is refilled (00:00 UTC); none: never.")  # fmt: skip
@json_option
def limits_command(credential: str, rate_limit: str | None, quota: int | None,
                   quota_period: str | None, as_json: bool) -> None:  # fmt: skip
    """Show or set the limits of an API key (by key id) or a client (by client_id)."""
    with transaction():
        owner = find_api_key(credential) or find_client(credential)
        if owner is None:
            raise NotFound(f"no API key or client {credential}")
        if rate_limit is not None or quota is not None or quota_period is not None:
            current = Limits(owner.rate_limit, owner.quota_limit, owner.quota_period)
            period = current.quota_period if quota_period is None else (
                None if quota_period == "none" else quota_period)  # fmt: skip
            limit = current.quota_limit if quota is None else (None if quota < 0 else quota)
            rate = current.rate_limit if rate_limit is None else (
                None if rate_limit.strip().lower() == "off" else rate_limit)  # fmt: skip
            set_limits(owner, Limits(rate, limit, period if limit is not None else None),
                       caller=OPERATOR)  # fmt: skip
        value = {**limits_of(owner), "quota_resets_at": iso(owner.quota_resets_at)}
    quota_text = ("no quota" if value["quota"] is None else
                  f"quota {value['quota_remaining']}/{value['quota']} "
                  f"(refilled each {value['quota_period'] or 'never'})")  # fmt: skip
    emit(value, as_json, f"rate limit {value['rate_limit'] or 'none'}; {quota_text}")
