"""Resource indicators (RFC 8707): the ``resource`` parameter names the API a token is for.

A client may ask only for the resources registered for it (``clients create --resource``); any
other is ``invalid_target``. The token's ``aud`` is the resource (a list when several), else the
default audience. An operator may give a resource its own access-token algorithm and lifetime
(``AUTHSERVER_RESOURCE_POLICIES``).
"""

from __future__ import annotations

import dataclasses
import functools
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error

from authserver import json_input
from authserver.config import SIGNING_ALGORITHMS, ConfigError, Settings
from authserver.current_request import current_request
from authserver.durations import parse_duration

_GRANTED = "authserver.resources"


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the resource is invalid, unknown, or not for this client."""

    error = "invalid_target"


@dataclasses.dataclass(frozen=True)
class ResourcePolicy:
    alg: str | None = None
    ttl_seconds: int | None = None


@functools.lru_cache(maxsize=8)
def parse_policies(text: str | None) -> dict[str, ResourcePolicy]:
    """``{"https://api.example": {"alg": "RS256", "ttl": "5m"}}``; raises ConfigError."""
    if not text:
        return {}
    try:
        raw = json_input.loads(text)
    except ValueError as e:
        raise ConfigError(f"AUTHSERVER_RESOURCE_POLICIES: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError("AUTHSERVER_RESOURCE_POLICIES: a JSON object of resource URIs")
    policies = {}
    for resource, spec in raw.items():
        if not is_resource_uri(resource) or not isinstance(spec, dict):
            raise ConfigError(f"AUTHSERVER_RESOURCE_POLICIES: bad entry for {resource!r}")
        alg = spec.get("alg")
        if alg is not None and alg not in SIGNING_ALGORITHMS:
            raise ConfigError(f"AUTHSERVER_RESOURCE_POLICIES: {resource}: alg must be one of "
                              f"{', '.join(SIGNING_ALGORITHMS)}")  # fmt: skip
        ttl = spec.get("ttl")
        try:
            ttl_seconds = parse_duration(str(ttl)) if ttl is not None else None
        except ValueError:
            raise ConfigError(f"AUTHSERVER_RESOURCE_POLICIES: {resource}: bad ttl") from None
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ConfigError(f"AUTHSERVER_RESOURCE_POLICIES: {resource}: ttl must be positive")
        policies[resource] = ResourcePolicy(alg, ttl_seconds)
    return policies


def is_resource_uri(value: str) -> bool:
    """RFC 8707 §2: an absolute URI without a fragment."""
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc) and not parts.fragment and len(value) <= 2000


def requested(payload) -> list[str]:  # noqa: ANN001
    return list(dict.fromkeys(payload.datalist.get("resource", [])))


def check_resources(resources: list[str], client, allowed: list[str] | None = None,  # noqa: ANN001
                    redirect_uri: str | None = None) -> list[str]:  # fmt: skip
    """The resources, if each is well-formed, registered for the client and (for a token
    request after an authorization) among those authorized."""
    registered = set(client.resources)
    for resource in resources:
        if not is_resource_uri(resource):
            raise InvalidTargetError(description="A resource must be an absolute URI without a "
                                     "fragment.", redirect_uri=redirect_uri)  # fmt: skip
        if resource not in registered or (allowed is not None and resource not in allowed):
            raise InvalidTargetError(description="The client may not ask for this resource.",
                                     redirect_uri=redirect_uri)  # fmt: skip
    return resources


def grant_resources(resources: list[str] | None) -> None:
    """The resources of the token this request issues (read by the token generator)."""
    current_request().environ[_GRANTED] = resources or None


def granted_resources() -> list[str] | None:
    return current_request().environ.get(_GRANTED)


def policy_for(settings: Settings, resources: list[str] | None) -> ResourcePolicy:
    """A single resource's policy; several resources share the defaults."""
    if resources and len(resources) == 1:
        return settings.resource_policy_map.get(resources[0], ResourcePolicy())
    return ResourcePolicy()
