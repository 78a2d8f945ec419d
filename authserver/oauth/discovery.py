"""Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery 1.0 §3).

Every value here is true of the running server: only what is implemented is listed.
"""

from __future__ import annotations

from authserver_verify.dpop import ALGORITHMS as DPOP_ALGORITHMS

from authserver.oauth import paths
from authserver.oauth.consent import SCOPE_WORDS
from authserver.oauth.revocation import Revocation
from authserver.platform.acr import ACR_VALUES
from authserver.platform.config import SIGNING_ALGORITHMS, Settings
from authserver.platform.token_types import API_KEY_TOKEN_TYPE
from authserver.platform.vocabulary import CONFIDENTIAL_AUTH_METHODS, GRANT_TYPES

# Algorithms joserfc accepts for client assertions (its recommended asymmetric set).
ASSERTION_SIGNING_ALGS = ["RS256", "ES256"]


def server_metadata(settings: Settings) -> dict:
    auth_methods = list(CONFIDENTIAL_AUTH_METHODS)
    metadata = {
        "issuer": settings.issuer,
        "authorization_endpoint": settings.url(paths.AUTHORIZATION),
        "token_endpoint": settings.url(paths.TOKEN),
        "userinfo_endpoint": settings.url(paths.USERINFO),
        "end_session_endpoint": settings.url(paths.END_SESSION),
        "jwks_uri": settings.url(paths.JWKS),
        "device_authorization_endpoint": settings.url(paths.DEVICE_AUTHORIZATION),
        "pushed_authorization_request_endpoint": settings.url(paths.PUSHED_AUTHORIZATION),
        "require_pushed_authorization_requests": settings.require_par,  # RFC 9126 §5
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),  # RFC 9449 §5.1
        "backchannel_logout_supported": True,  # OIDC Back-Channel Logout 1.0 §2.1
        "backchannel_logout_session_supported": True,
        "introspection_endpoint": settings.url(paths.INTROSPECTION),
        "revocation_endpoint": settings.url(paths.REVOCATION),
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,  # RFC 9207
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent"],
        "scopes_supported": list(SCOPE_WORDS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "acr",
            "sid",
            "at_hash",
            "name",
            "email",
            "email_verified",
        ],
        "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGS,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGS,
        "revocation_endpoint_auth_methods_supported": list(Revocation.CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_SIGNING_ALGS,
        "access_token_signing_alg_values_supported": [settings.access_token_alg],
        # Not registered metadata: what token exchange (RFC 8693) accepts as subject_token.
        "token_exchange_subject_token_types_supported": [API_KEY_TOKEN_TYPE],
        "api_key_prefix": settings.apikey_prefix,
    }
    if settings.dynamic_registration:
        metadata["registration_endpoint"] = settings.url("/oauth/register")  # RFC 7591
    return metadata
