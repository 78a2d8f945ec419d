"""Django: a view decorator; the claims are in ``request.token_claims``.

api = ResourceServer(ISSUER, audience=AUDIENCE)

@require_token(api, ["orders:read"])
def orders(request): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from authserver_verify.errors import TokenVerificationError
from authserver_verify.resource import ResourceServer, refusal_for


def require_token(
    resource: ResourceServer, scopes: Iterable[str] = (), *, dpop: bool = False
) -> Callable:
    required = tuple(scopes)

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                request.token_claims = resource.authenticate(
                    authorization=request.headers.get("Authorization"),
                    dpop_proof=request.headers.get("DPoP"),
                    method=request.method, url=request.build_absolute_uri(),
                    scopes=required, dpop=dpop,
                )  # fmt: skip
            except TokenVerificationError as e:
                refused = refusal_for(e, required, dpop=dpop)
                response = JsonResponse(refused.body, status=refused.status)
                for name, value in refused.headers.items():
                    response[name] = value
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
