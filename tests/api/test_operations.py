"""Every operation, generically: 401 without credentials, 403 without its one permission,
404 for an unknown resource — driven from the same registry the OpenAPI document is built from."""

from __future__ import annotations

import re

import pytest

from authserver.api.v1.framework import OPERATIONS

IDS = [f"{op.method} {op.path}" for op in OPERATIONS]


def _path(op, value: str = "does-not-exist") -> str:
    return re.sub(r"\{\w+\}", value, op.path)


def _body(op):
    return {} if op.body is not None else None


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_without_credentials_every_operation_is_401(anonymous, op):
    response = anonymous(op.method, _path(op), _body(op))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_every_operation_checks_its_permission(caller, op):
    others = " ".join(sorted({o.permission.value for o in OPERATIONS} - {op.permission.value}))
    response = caller(others)(op.method, _path(op), _body(op))
    assert response.status_code == 403
    assert f'scope="{op.permission.value}"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "op", [op for op in OPERATIONS if "{" in op.path], ids=lambda o: f"{o.method} {o.path}"
)
def test_an_unknown_resource_is_404(admin, op):
    headers = {"If-Match": "*"} if op.conditional else {}
    body = _valid_body(op)
    response = admin(op.method, _path(op), body, headers=headers)
    assert response.status_code == 404, response.get_json()
    assert response.mimetype == "application/problem+json"


def _valid_body(op):
    if op.body is None:
        return None
    samples = {"KeyRevocation": {"reason": "test"}, "RuleCreate": {"name": "x"}}
    return samples.get(op.body.__name__, {})
