"""Token-type identifiers (RFC 8693 §3) and the grant type of token exchange."""

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
#: Ours: an authserver API key presented as the subject token of a token exchange.
API_KEY_TOKEN_TYPE = "urn:authserver:params:oauth:token-type:api_key"  # noqa: S105
#: Ours: the claim naming the API key an access token was exchanged for, so that the token
#: spends the key's gateway limits and counts as the key's usage (not as its client's).
EXCHANGED_KEY_CLAIM = "api_key_id"
