"""/api/v1: the admin REST API. Importing the resource modules registers their operations."""

from authserver.api.v1 import (  # noqa: F401
    apikeys,
    audit,
    clients,
    gateway,
    keys,
    openapi,
    roles,
    users,
    webhooks,
)
from authserver.api.v1.framework import bp

__all__ = ["bp"]
