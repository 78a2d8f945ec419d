"""Where each protocol endpoint lives, named once for the views, discovery and audiences."""

TOKEN = "/oauth/token"  # noqa: S105
INTROSPECTION = "/oauth/introspect"
REVOCATION = "/oauth/revoke"
AUTHORIZATION = "/oauth/authorize"
USERINFO = "/oauth/userinfo"
END_SESSION = "/oauth/logout"
DEVICE_AUTHORIZATION = "/oauth/device_authorization"
PUSHED_AUTHORIZATION = "/oauth/par"
JWKS = "/.well-known/jwks.json"
OPENID_CONFIGURATION = "/.well-known/openid-configuration"
AS_METADATA = "/.well-known/oauth-authorization-server"

#: Endpoints that authenticate clients (valid `aud` values of a client assertion).
CLIENT_AUTH_ENDPOINTS = (
    TOKEN,
    INTROSPECTION,
    REVOCATION,
    DEVICE_AUTHORIZATION,
    PUSHED_AUTHORIZATION,
)
#: Endpoints that answer in RFC 6749 §5.2 JSON errors.
PROTOCOL_ENDPOINTS = CLIENT_AUTH_ENDPOINTS
