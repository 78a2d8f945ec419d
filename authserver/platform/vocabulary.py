"""The protocol's vocabulary that every floor spells the same way: the grant types this server
implements and the ways a client authenticates (RFC 6749 §2.3 and §4, RFC 7523 §2.2, RFC 7591
§2, RFC 8628, RFC 8693). The services validate against these, discovery publishes them, the API
schema and the admin forms offer them."""

from authserver.platform.token_types import TOKEN_EXCHANGE_GRANT

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    TOKEN_EXCHANGE_GRANT,
    DEVICE_CODE_GRANT,
)
#: Client authentication with the shared secret.
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
CONFIDENTIAL_AUTH_METHODS = (*SECRET_AUTH_METHODS, "private_key_jwt")
#: "none": a public client, which authenticates with its client_id alone (RFC 7591 §2).
AUTH_METHODS = (*CONFIDENTIAL_AUTH_METHODS, "none")
