"""The admin web UI under /admin: server-rendered pages over the same services as the admin API.

Every page names the permission it needs (a user without it gets 403) and wants a sign-in with a
second factor no older than ``AUTHSERVER_ADMIN_REAUTH``; every change is a POST with a CSRF
token, and destructive ones go through a confirmation page first.
"""

from authserver.admin import (  # noqa: F401  (their routes register on bp)
    apikeys,
    audit,
    clients,
    gateway,
    keys,
    overview,
    people,
    roles,
    webhooks,
)
from authserver.admin.blueprint import bp

__all__ = ["bp"]
