"""How an admin API operation is declared, authenticated, validated and answered.

Each operation is declared once with ``@operation(...)``: its path, the one permission it
checks, and the pydantic models of its query, body and response. The same declaration drives
the request validation here and the OpenAPI document (``openapi.py``): there is no second copy
to drift. Views stay thin: they call one service function and return a model.

- Authentication: ``Authorization: Bearer`` with an access token from this server or an API
  key, or ``Authorization: DPoP`` with a DPoP-bound token and its proof (RFC 9449 §7.1: a bound
  token is refused as Bearer); 401 and 403 carry ``WWW-Authenticate`` as RFC 6750 §3 describes.
- The caller's permissions bound what it may do, and also what it may give away: services
  refuse escalation (``rbac.containment``) with a 403 that is audited.
- Errors: RFC 9457 ``application/problem+json``; validation errors name the field.
- Concurrency: representations carry an ``ETag``; updates require a matching ``If-Match``
  (RFC 9110 §13.1.1), so two administrators cannot silently overwrite each other.
- Deprecation: a deprecated operation answers with ``Deprecation`` (RFC 9745), ``Sunset``
  (RFC 8594) and a ``Link`` to its successor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from authserver_verify import json_input
from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError

from authserver.oauth.bearer import REALM, authenticate
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.rbac.containment import Caller, NotPermitted
from authserver.rbac.permissions import Permission
from authserver.web.errors import roll_back
from authserver.web.problems import TITLES, Problem, problem_for

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")


# --- errors ---------------------------------------------------------------------------------


_DOMAIN_STATUS = {"invalid_input": 422, "not_found": 404, "conflict": 409}


def _from_domain(error: AuthServerError) -> Problem:
    status = _DOMAIN_STATUS.get(error.error, error.status)
    field, _, message = error.description.partition(": ")
    errors = None
    if status == 422 and message and re.fullmatch(r"[a-z_]+", field):
        errors = [{"field": field, "message": message}]
    problem = Problem(status, TITLES.get(status, "Error"), error.description, errors=errors)
    if isinstance(error, NotPermitted):
        problem.extensions = {"missing_permissions": error.missing}
    return problem


def _from_validation(error: ValidationError, where: str) -> Problem:
    errors = [
        {
            "field": ".".join(str(part) for part in e["loc"]) or where,
            "message": e["msg"],
        }
        for e in error.errors(include_url=False, include_input=False)
    ]
    return Problem(422, TITLES[422], f"The {where} is not valid.", errors=errors)


# --- who is calling ---------------------------------------------------------------------------


#: The caller as the views see it: who (for the audit trail) and what it may do.
Principal = Caller


def _require(principal: Caller, permission: Permission) -> None:
    if permission.value not in principal.permissions:
        challenge = (
            f'Bearer {REALM}, error="insufficient_scope", scope="{permission.value}", '
            f'error_description="This needs the {permission.value} permission."'
        )
        problem = Problem(
            403, TITLES[403], f"This operation needs the {permission.value} permission.",
            headers={"WWW-Authenticate": challenge},
        )  # fmt: skip
        problem.extensions = {"missing_permissions": [permission.value]}
        raise problem


# --- representations, ETags, pagination ---------------------------------------------------------


def etag_of(model: BaseModel) -> str:
    canonical = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def check_if_match(current: BaseModel) -> None:
    """RFC 9110 §13.1.1: update only the representation the caller last saw."""
    presented = request.headers.get("If-Match")
    if presented is None:
        raise problem_for(428, "Send If-Match with the ETag of the representation you change.")
    tags = {t.strip() for t in presented.split(",")}
    if "*" not in tags and etag_of(current) not in tags:
        raise problem_for(412, "The resource changed since you read it; read it again.")


@dataclasses.dataclass
class Reply:
    """What a view returns when the status or headers differ from the operation's default."""

    body: BaseModel | None
    status: int | None = None
    location: str | None = None
    etag: bool = False


# --- declaring operations -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Deprecation:
    since: dt.datetime
    sunset: dt.datetime
    successor: str  # path of the operation that replaces it, under /api/v1

    def headers(self, path_params: dict[str, str]) -> dict[str, str]:
        successor = quote(bp.url_prefix + self.successor.format(**path_params))
        return {
            "Deprecation": f"@{int(self.since.timestamp())}",  # RFC 9745 §2.1
            "Sunset": format_datetime(self.sunset, usegmt=True),  # RFC 8594 §3
            "Link": f'<{successor}>; rel="successor-version"',
        }


@dataclasses.dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI template: /users/{user_id}
    summary: str
    tag: str
    permission: Permission
    status: int
    response: type[BaseModel] | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    conditional: bool  # an update that needs If-Match
    deprecated: Deprecation | None
    operation_id: str


OPERATIONS: list[Operation] = []


def operation(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    permission: Permission,
    status: int = 200,
    response: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    conditional: bool = False,
    deprecated: Deprecation | None = None,
) -> Callable:
    def register(view: Callable) -> Callable:
        # Unique across resource modules: users_create, clients_create, ...
        name = f"{view.__module__.rsplit('.', 1)[-1]}_{view.__name__}"
        op = Operation(
            method, path, summary, tag, permission, status, response, body, query,
            conditional, deprecated, name,
        )  # fmt: skip
        OPERATIONS.append(op)
        rule = re.sub(r"\{(\w+)\}", r"<\1>", path)
        bp.add_url_rule(rule, name, _handler(op, view), methods=[method])
        return view

    return register


def _handler(op: Operation, view: Callable) -> Callable:
    @functools.wraps(view)
    def handle(**path_params: str) -> Response:
        try:
            principal = authenticate()
            _require(principal, op.permission)
            _check_storable(path_params, "path")
            kwargs: dict[str, Any] = dict(path_params, principal=principal)
            if op.query is not None:
                kwargs["query"] = _parse_query(op.query)
            if op.body is not None:
                kwargs["body"] = _parse_body(op.body)
            result = view(**kwargs)
            db.session.commit()
        except Problem as e:
            db.session.rollback()
            return _with_deprecation(op, e.response(), path_params)
        except AuthServerError as e:
            roll_back(e)
            return _with_deprecation(op, _from_domain(e).response(), path_params)
        return _with_deprecation(op, _respond(op, result), path_params)

    return handle


def _check_storable(value: object, where: str) -> None:
    """No NUL characters and no lone surrogates in any string: neither can be stored as text
    (PostgreSQL refuses both), so they are a 400 here rather than a database error."""
    if isinstance(value, str):
        if "\x00" in value:
            raise Problem(400, TITLES[400], f"The {where} contains a NUL character.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Problem(400, TITLES[400], f"The {where} is not valid Unicode.") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, where)
            _check_storable(item, where)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, where)


def _parse_query(model: type[BaseModel]) -> BaseModel:
    args = request.args
    repeated = [name for name in args if len(args.getlist(name)) > 1]
    if repeated:
        raise Problem(400, TITLES[400], f"Repeated query parameter: {repeated[0]}.")
    _check_storable(args.to_dict(), "query")
    try:
        return model.model_validate(args.to_dict())
    except ValidationError as e:
        raise _from_validation(e, "query") from None


def _parse_body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "application/json":
        raise problem_for(415, "Send the body as application/json.")
    try:
        data = json_input.loads(request.get_data(cache=True))
    except json_input.JSONInputError as e:
        raise Problem(400, TITLES[400], f"The body is {e}.") from None
    if not isinstance(data, dict):
        raise Problem(400, TITLES[400], "The body must be a JSON object.")
    _check_storable(data, "body")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise _from_validation(e, "body") from None


def _respond(op: Operation, result: BaseModel | Reply | None) -> Response:
    reply = result if isinstance(result, Reply) else Reply(result)
    status = reply.status or op.status
    if reply.body is None:
        return Response(status=204 if status in (200, 204) else status)
    response = Response(reply.body.model_dump_json(), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if reply.location:
        response.headers["Location"] = reply.location
    if reply.etag:
        response.headers["ETag"] = etag_of(reply.body)
    return response


def _with_deprecation(op: Operation, response: Response, path_params: dict) -> Response:
    if op.deprecated is not None:
        response.headers.update(op.deprecated.headers(path_params))
    return response
