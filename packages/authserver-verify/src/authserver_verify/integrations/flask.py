"""Flask: a view decorator; the claims are in ``flask.g.token_claims``.

api = ResourceServer(ISSUER, audience=AUDIENCE)

@app.get("/orders")
@require_token(api, ["orders:read"])
def orders(): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from flask import g, jsonify, request

from authserver_verify.errors import TokenVerificationError
from authserver_verify.resource import ResourceServer, refusal_for


def require_token(
    resource: ResourceServer, scopes: Iterable[str] = (), *, dpop: bool = False
) -> Callable:
    required = tuple(scopes)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                g.token_claims = resource.authenticate(
                    authorization=request.headers.get("Authorization"),
                    dpop_proof=request.headers.get("DPoP"),
                    method=request.method, url=request.url, scopes=required, dpop=dpop,
                )  # fmt: skip
            except TokenVerificationError as e:
                refused = refusal_for(e, required, dpop=dpop)
                response = jsonify(refused.body)
                response.status_code = refused.status
                response.headers.update(refused.headers)
                return response
            return view(*args, **kwargs)

        return wrapper

    return decorate
