"""/api/v1/gateway: the route rules of ``/gateway/check`` (CRUD, the whole list replaced at once
for rules kept in Git, and a dry run), the limits of API keys and clients, and usage analytics
(counts by hour or day and outcome; the busiest keys and clients)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from authserver.api.v1.apikeys import api_key_out
from authserver.api.v1.framework import Principal, Reply, check_if_match, operation
from authserver.api.v1.schemas import ApiKeyList, Input, Output, PageQuery
from authserver.apikeys.service import find_api_key, unused_keys
from authserver.clients.service import find_client
from authserver.gateway.decision import explain
from authserver.gateway.limits import Limits, set_limits
from authserver.gateway.rules import (
    RuleSpec,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    replace_rules,
    update_rule,
)
from authserver.models import ApiKey, Client, GatewayRule
from authserver.platform import clock
from authserver.platform.errors import NotFound
from authserver.rbac.permissions import Permission
from authserver.usage import GATEWAY_OUTCOMES, gateway_series, top_gateway_principals
from authserver.web.paging import page

TAG = "gateway"
Credential = Literal["jwt", "dpop", "api_key", "anonymous"]
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
Short = Annotated[str, StringConstraints(max_length=255)]


class RuleIn(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    path: Annotated[str, StringConstraints(min_length=1, max_length=1000)] = Field(
        "/", description="A prefix (/orders matches /orders and /orders/7), or a pattern where "
        "* is one segment and ** any number.")  # fmt: skip
    host: Short = Field("", description="A host, *.example.com, or empty for any host.")
    methods: list[Method] = Field([], max_length=9, description="None: any method.")
    scopes: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        [], max_length=50
    )
    scope_match: Literal["all", "any"] = "all"
    credentials: list[Credential] = Field(["jwt", "dpop", "api_key"], min_length=1)
    audience: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="The audience a JWT must carry (RFC 9068 §4)."
    )
    forward_token: bool = Field(False, description="Hand the upstream a signed identity JWT.")
    enabled: bool = True
    description: Annotated[str, StringConstraints(max_length=2000)] = ""

    def spec(self) -> RuleSpec:
        data = self.model_dump()
        return RuleSpec.from_json(data)


class RuleCreate(RuleIn):
    position: int | None = Field(None, ge=1, le=1000, description="1-based; default last.")


class RuleOut(Output):
    id: str
    position: int
    name: str
    path: str
    host: str
    methods: list[str]
    scopes: list[str]
    scope_match: str
    credentials: list[str]
    audience: str | None
    forward_token: bool
    enabled: bool
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime


class RuleList(Output):
    items: list[RuleOut]


class RuleReplacement(Input):
    rules: list[RuleIn] = Field(max_length=1000)


class DryRunIn(Input):
    method: Method
    url: Annotated[str, StringConstraints(min_length=1, max_length=4000)] = Field(
        description="The original request's URL (https://api.example.com/orders/7)."
    )


class PassedOver(Output):
    rule: str
    reason: str


class DryRunOut(Output):
    method: str
    host: str
    path: str
    allowed_by_rule: RuleOut | None = Field(
        description="The rule that decides; null: no rule matches and the request is denied."
    )
    passed_over: list[PassedOver]


class LimitsIn(Input):
    rate_limit: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description='Token buckets: "100/second burst 200;10000/day"; null: none.'
    )
    quota: int | None = Field(None, ge=0, le=10**12, description="Requests per period.")
    quota_period: Literal["day", "month"] | None = Field(
        None, description="Refilled at 00:00 UTC each day or month; null: never."
    )


class LimitsOut(Output):
    rate_limit: str | None
    quota: int | None
    quota_period: str | None
    quota_remaining: int | None
    quota_resets_at: dt.datetime | None


class UsageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    principal: Annotated[str, StringConstraints(min_length=3, max_length=300)] = Field(
        description="apikey:<key id> or client:<client_id>."
    )
    granularity: Literal["hour", "day"] = "hour"
    days: int = Field(1, ge=1, le=400, description="How far back.")


class UsagePoint(Output):
    start: dt.datetime
    counts: dict[str, int] = Field(description=f"By outcome: {', '.join(GATEWAY_OUTCOMES)}.")


class UsageOut(Output):
    principal: str
    granularity: str
    points: list[UsagePoint]


class TopQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(1, ge=1, le=400)
    limit: int = Field(10, ge=1, le=100)


class TopItem(Output):
    principal: str
    requests: int
    allowed: int


class TopOut(Output):
    items: list[TopItem]


def rule_out(rule: GatewayRule) -> RuleOut:
    return RuleOut(id=rule.rule_id, position=rule.position, created_at=rule.created_at,
                   updated_at=rule.updated_at, **RuleSpec.of(rule).as_json())  # fmt: skip


@operation(
    "GET", "/gateway/rules", summary="The route rules, in the order they are tried", tag=TAG,
    permission=Permission.GATEWAY_READ, response=RuleList,
)  # fmt: skip
def list_(principal: Principal) -> RuleList:
    return RuleList(items=[rule_out(rule) for rule in list_rules()])


@operation(
    "PUT", "/gateway/rules", summary="Replace every rule, in one transaction (rules kept in Git)",
    tag=TAG, permission=Permission.GATEWAY_WRITE, body=RuleReplacement, response=RuleList,
)  # fmt: skip
def replace(principal: Principal, body: RuleReplacement) -> RuleList:
    replace_rules([item.spec() for item in body.rules], caller=principal, source="api")
    return RuleList(items=[rule_out(rule) for rule in list_rules()])


@operation(
    "POST", "/gateway/rules", summary="Add a rule", tag=TAG,
    permission=Permission.GATEWAY_WRITE, body=RuleCreate, response=RuleOut, status=201,
)  # fmt: skip
def create(principal: Principal, body: RuleCreate) -> Reply:
    spec = RuleIn(**body.model_dump(exclude={"position"})).spec()
    rule = create_rule(spec, position=body.position, caller=principal)
    return Reply(rule_out(rule), location=f"/api/v1/gateway/rules/{rule.rule_id}")


@operation(
    "GET", "/gateway/rules/{rule_id}", summary="Read a rule", tag=TAG,
    permission=Permission.GATEWAY_READ, response=RuleOut,
)  # fmt: skip
def read(principal: Principal, rule_id: str) -> Reply:
    return Reply(rule_out(get_rule(rule_id)), etag=True)


@operation(
    "PUT", "/gateway/rules/{rule_id}", summary="Rewrite a rule (and move it with position)",
    tag=TAG, permission=Permission.GATEWAY_WRITE, body=RuleCreate, response=RuleOut,
    conditional=True,
)  # fmt: skip
def update(principal: Principal, rule_id: str, body: RuleCreate) -> Reply:
    rule = get_rule(rule_id)
    check_if_match(rule_out(rule))
    spec = RuleIn(**body.model_dump(exclude={"position"})).spec()
    update_rule(rule, spec, position=body.position, caller=principal)
    return Reply(rule_out(rule), etag=True)


@operation(
    "DELETE", "/gateway/rules/{rule_id}", summary="Remove a rule", tag=TAG,
    permission=Permission.GATEWAY_WRITE, status=204,
)  # fmt: skip
def delete(principal: Principal, rule_id: str) -> None:
    delete_rule(get_rule(rule_id), caller=principal)


@operation(
    "POST", "/gateway/rules/dry-run",
    summary="Which rule a request would meet, and why the earlier ones did not match", tag=TAG,
    permission=Permission.GATEWAY_READ, body=DryRunIn, response=DryRunOut,
)  # fmt: skip
def dry_run(principal: Principal, body: DryRunIn) -> DryRunOut:
    rules = list_rules()
    original, match = explain(body.method, body.url, rules)
    decided = None
    if match.rule is not None:
        decided = rule_out(next(r for r in rules if r.rule_id == match.rule.rule_id))
    return DryRunOut(
        method=original.method, host=original.host, path=original.path,
        allowed_by_rule=decided,
        passed_over=[PassedOver(rule=name, reason=why) for name, why in match.passed_over],
    )  # fmt: skip


def _owner(kind: str, ident: str) -> ApiKey | Client:
    found = find_api_key(ident) if kind == "apikeys" else find_client(ident)
    if found is None:
        raise NotFound(f"no {'API key' if kind == 'apikeys' else 'client'} {ident}")
    return found


def limits_out(owner: ApiKey | Client) -> LimitsOut:
    return LimitsOut(rate_limit=owner.rate_limit, quota=owner.quota_limit,
                     quota_period=owner.quota_period, quota_remaining=owner.quota_remaining,
                     quota_resets_at=owner.quota_resets_at)  # fmt: skip


@operation(
    "GET", "/api-keys/{key_id}/limits", summary="An API key's gateway limits and quota state",
    tag=TAG, permission=Permission.APIKEYS_READ, response=LimitsOut,
)  # fmt: skip
def key_limits(principal: Principal, key_id: str) -> LimitsOut:
    return limits_out(_owner("apikeys", key_id))


@operation(
    "PUT", "/api-keys/{key_id}/limits",
    summary="Set an API key's rate limit and quota (a changed quota starts full)", tag=TAG,
    permission=Permission.APIKEYS_WRITE, body=LimitsIn, response=LimitsOut,
)  # fmt: skip
def set_key_limits(principal: Principal, key_id: str, body: LimitsIn) -> LimitsOut:
    key = _owner("apikeys", key_id)
    set_limits(key, Limits(body.rate_limit, body.quota, body.quota_period), caller=principal)
    return limits_out(key)


@operation(
    "GET", "/clients/{client_id}/limits", summary="A client's gateway limits and quota state",
    tag=TAG, permission=Permission.CLIENTS_READ, response=LimitsOut,
)  # fmt: skip
def client_limits(principal: Principal, client_id: str) -> LimitsOut:
    return limits_out(_owner("clients", client_id))


@operation(
    "PUT", "/clients/{client_id}/limits",
    summary="Set the rate limit and quota of a client's tokens at the gateway", tag=TAG,
    permission=Permission.CLIENTS_WRITE, body=LimitsIn, response=LimitsOut,
)  # fmt: skip
def set_client_limits(principal: Principal, client_id: str, body: LimitsIn) -> LimitsOut:
    client = _owner("clients", client_id)
    set_limits(client, Limits(body.rate_limit, body.quota, body.quota_period), caller=principal)
    return limits_out(client)


@operation(
    "GET", "/gateway/usage", summary="A key's or client's decisions by hour or day and outcome",
    tag=TAG, permission=Permission.GATEWAY_READ, query=UsageQuery, response=UsageOut,
)  # fmt: skip
def usage(principal: Principal, query: UsageQuery) -> UsageOut:
    since = clock.now() - dt.timedelta(days=query.days)
    series = gateway_series(query.principal, query.granularity, since)
    points = [UsagePoint(start=start, counts=series[start]) for start in sorted(series)]
    return UsageOut(principal=query.principal, granularity=query.granularity, points=points)


@operation(
    "GET", "/gateway/usage/top", summary="The busiest keys and clients", tag=TAG,
    permission=Permission.GATEWAY_READ, query=TopQuery, response=TopOut,
)  # fmt: skip
def top(principal: Principal, query: TopQuery) -> TopOut:
    since = clock.now() - dt.timedelta(days=query.days)
    rows = top_gateway_principals(since, query.limit)
    return TopOut(items=[TopItem(principal=p, requests=n, allowed=a) for p, n, a in rows])


@operation(
    "GET", "/gateway/usage/unused-keys",
    summary="Live API keys made more than 30 days ago and not used since (candidates to revoke)",
    tag=TAG, permission=Permission.APIKEYS_READ, query=PageQuery, response=ApiKeyList,
)  # fmt: skip
def unused(principal: Principal, query: PageQuery) -> ApiKeyList:
    items, next_cursor = page(unused_keys(clock.now()), ApiKey.id, query, to_item=api_key_out)
    return ApiKeyList(items=items, next_cursor=next_cursor)
