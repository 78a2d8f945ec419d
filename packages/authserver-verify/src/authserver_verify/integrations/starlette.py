"""Starlette and FastAPI: a dependency (FastAPI) and an endpoint decorator (Starlette).

    api = ResourceServer(ISSUER, audience=AUDIENCE)

    @app.get("/orders")                                  # FastAPI
    async def orders(claims: dict = Depends(RequireToken(api, ["orders:read"]))): ...

    @requires_token(api, ["orders:read"])                # Starlette; request.state.token_claims
    async def orders(request): ...

Verification may fetch the issuer's keys (a blocking call), so it runs in the thread pool.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from authserver_verify.errors import TokenVerificationError
from authserver_verify.resource import Refusal, ResourceServer, refusal_for


async def _authenticate(
    resource: ResourceServer, request: Request, scopes: tuple[str, ...], dpop: bool
) -> dict | Refusal:
    try:
        return await run_in_threadpool(
            resource.authenticate,
            authorization=request.headers.get("Authorization"),
            dpop_proof=request.headers.get("DPoP"),
            method=request.method, url=str(request.url), scopes=scopes, dpop=dpop,
        )  # fmt: skip
    except TokenVerificationError as e:
        return refusal_for(e, scopes, dpop=dpop)


class RequireToken:
    """A FastAPI dependency returning the claims; a refusal is an HTTPException with the RFC
    6750 challenge in ``WWW-Authenticate`` and the error in ``detail``."""

    def __init__(
        self, resource: ResourceServer, scopes: Iterable[str] = (), *, dpop: bool = False
    ) -> None:
        self.resource = resource
        self.scopes = tuple(scopes)
        self.dpop = dpop

    async def __call__(self, request: Request) -> dict:
        outcome = await _authenticate(self.resource, request, self.scopes, self.dpop)
        if isinstance(outcome, Refusal):
            raise HTTPException(outcome.status, detail=outcome.body, headers=outcome.headers)
        return outcome


def requires_token(
    resource: ResourceServer, scopes: Iterable[str] = (), *, dpop: bool = False
) -> Callable:
    required = tuple(scopes)

    def decorate(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            outcome = await _authenticate(resource, request, required, dpop)
            if isinstance(outcome, Refusal):
                return JSONResponse(outcome.body, outcome.status, headers=outcome.headers)
            request.state.token_claims = outcome
            return await endpoint(request)

        return wrapper

    return decorate
