"""Resource indicators (RFC 8707): the ``resource`` parameter names the API a token is for.

A client may ask only for the resources registered for it (``clients create --resource``); any
other is ``invalid_target``. The token's ``aud`` is the resource (a list when several), else the
default audience. An operator may give a resource its own access-token algorithm and lifetime
(``AUTHSERVER_RESOURCE_POLICIES``).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error

from authserver.platform.config import ResourcePolicy, Settings, is_resource_uri
from authserver.platform.request_state import request_state


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the resource is invalid, unknown, or not for this client."""

    error = "invalid_target"


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
    request_state().granted_resources = resources or None


def granted_resources() -> list[str] | None:
    return request_state().granted_resources


def policy_for(settings: Settings, resources: list[str] | None) -> ResourcePolicy:
    """A single resource's policy; several resources share the defaults."""
    if resources and len(resources) == 1:
        return settings.resource_policy_map.get(resources[0], ResourcePolicy())
    return ResourcePolicy()
