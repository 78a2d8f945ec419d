"""The OpenAPI 3.1 document of /api/v1, built from the operation declarations and the same
pydantic models that validate requests (``framework.OPERATIONS``), and the reference page.

Served at ``/api/v1/openapi.json`` and ``/api/v1/docs`` without authentication: the document
describes the API, it holds no data.
"""

from __future__ import annotations

import functools
import re

from flask import Response, current_app, jsonify, render_template
from pydantic.json_schema import models_json_schema

from authserver.api.v1 import schemas
from authserver.api.v1.framework import OPERATIONS, Operation, bp
from authserver.platform.runtime import runtime_of

REF = "#/components/schemas/{model}"

_ERRORS = {
    400: "The request is malformed (query, JSON or cursor).",
    401: "No valid bearer token or API key.",
    403: "The caller lacks the operation's permission.",
    404: "No such resource.",
    409: "The change conflicts with the resource's state.",
    412: "If-Match does not match the current ETag.",
    415: "The body is not application/json.",
    422: "The input is not valid; `errors` names each field.",
    428: "If-Match is required.",
    429: "Too many failed credentials from this address (draft-ietf-httpapi-ratelimit-headers "
    "quota-exceeded problem, with `violated-policies`); retry after `Retry-After`.",
}


@bp.get("/openapi.json")
def openapi_json() -> Response:
    response = jsonify(document(runtime_of(current_app).settings.issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/docs")
def docs() -> str:
    return render_template("api_docs.html")


@functools.cache
def document(issuer: str) -> dict:
    models = _models()
    _, definitions = models_json_schema([(model, mode) for model, mode in models], ref_template=REF)
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "authserver admin API",
            "version": "1",
            "description": (
                "Administration of users, clients, roles, signing keys, API keys, the "
                "audit trail and the webhooks that deliver it. Every operation checks one "
                "permission (`x-permission`), held through roles. Authenticate with a bearer "
                "access token from this server or an API key. Errors are RFC 9457 problem "
                "documents. Updates need `If-Match`."
            ),
        },
        "servers": [{"url": issuer.rstrip("/") + bp.url_prefix}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access token from this server, or an API key.",
                }
            },
            "headers": _HEADERS,
        },
    }


def _models() -> list[tuple[type, str]]:
    seen: dict[type, str] = {schemas.Problem: "serialization"}
    for op in OPERATIONS:
        if op.body is not None:
            seen[op.body] = "validation"
        if op.response is not None:
            seen[op.response] = "serialization"
    return list(seen.items())


def _ref(model: type) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "description": "Send it back in If-Match."},
    "Location": {"schema": {"type": "string"}, "description": "The created resource."},
    "WWW-Authenticate": {"schema": {"type": "string"}, "description": "RFC 6750 §3."},
    "Deprecation": {"schema": {"type": "string"}, "description": "RFC 9745."},
    "Sunset": {"schema": {"type": "string"}, "description": "RFC 8594."},
    "Link": {"schema": {"type": "string"}, "description": "The successor operation."},
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds (RFC 9110 §10.2.3)."},
    "RateLimit": {
        "schema": {"type": "string"},
        "description": "draft-ietf-httpapi-ratelimit-headers-11 §4.",
    },
    "RateLimit-Policy": {
        "schema": {"type": "string"},
        "description": "draft-ietf-httpapi-ratelimit-headers-11 §3.",
    },
}


def _header_refs(*names: str) -> dict:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _operation(op: Operation) -> dict:
    entry: dict = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "x-permission": op.permission.value,
        "parameters": _parameters(op),
        "responses": _responses(op),
    }
    if op.body is not None:
        entry["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    if op.deprecated is not None:
        entry["deprecated"] = True
    return entry


def _parameters(op: Operation) -> list[dict]:
    parameters = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 200}}
        for name in re.findall(r"\{(\w+)\}", op.path)
    ]  # fmt: skip
    if op.conditional:
        parameters.append(
            {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"}}
        )
    if op.query is not None:
        query_schema = op.query.model_json_schema(ref_template=REF)
        required = set(query_schema.get("required", []))
        for name, schema in query_schema["properties"].items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": schema}
            )
    return parameters


def _responses(op: Operation) -> dict:
    success: dict = {"description": "Success"}
    headers = []
    if op.response is not None and op.status != 204:
        success["content"] = {"application/json": {"schema": _ref(op.response)}}
    if op.method == "GET" or op.conditional or op.status == 201:
        headers.append("ETag")
    if op.status == 201:
        headers.append("Location")
    if op.deprecated is not None:
        headers += ["Deprecation", "Sunset", "Link"]
    if headers:
        success["headers"] = _header_refs(*headers)
    responses = {str(op.status): success}
    for status in _error_statuses(op):
        problem = {
            "description": _ERRORS[status],
            "content": {"application/problem+json": {"schema": _ref(schemas.Problem)}},
        }
        if status in (401, 403):
            problem["headers"] = _header_refs("WWW-Authenticate")
        if status == 429:
            problem["headers"] = _header_refs("Retry-After", "RateLimit", "RateLimit-Policy")
        responses[str(status)] = problem
    return responses


def _error_statuses(op: Operation) -> list[int]:
    statuses = [400, 401, 403, 429]
    if "{" in op.path:
        statuses.append(404)
    if op.method != "GET":
        statuses.append(409)
    if op.body is not None:
        statuses += [415, 422]
    elif op.query is not None:
        statuses.append(422)
    if op.conditional:
        statuses += [412, 428]
    return sorted(set(statuses))
