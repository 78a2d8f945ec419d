"""Every request the server itself sends goes through here (ARCHITECTURE.md): clients' JWK Sets
at their ``jwks_uri``, back-channel logout tokens, security-event webhooks.

``policy`` decides which URLs and addresses may be reached (the OWASP SSRF Prevention Cheat
Sheet: https only, no internal addresses unless the operator allows them); ``client`` sends one
request to the address it checked, with no redirects, a total deadline and a size cap. Nothing
else in the server opens a connection to a URL (a test keeps it so)."""

from authserver.outbound.client import Outbound, OutboundError, Response
from authserver.outbound.policy import OutboundPolicy, UrlRefused

__all__ = ["Outbound", "OutboundError", "OutboundPolicy", "Response", "UrlRefused"]
