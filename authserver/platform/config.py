"""Settings: every option with its default and meaning, read once from the environment.

Only this module reads ``os.environ``. Everything else receives a ``Settings`` value
(``current_settings()`` inside a request or CLI command).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authserver_verify import json_input

from authserver.platform import branding
from authserver.platform.durations import parse_duration
from authserver.platform.hostnames import parse_allow_list
from authserver.platform.password_cost import DEFAULT as DEFAULT_PASSWORD_COST
from authserver.platform.password_cost import PasswordCost, parse_password_cost
from authserver.platform.rates import parse_rates

# This module is authserver/platform/config.py: the package is two folders up.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# A git checkout (an editable install runs from it) or an installed release (the wheel).
CHECKOUT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").is_file() else None
# A release carries its templates and migrations inside the package; a checkout at its top.
TEMPLATES_DIR = PACKAGE_DIR / "templates" if CHECKOUT is None else CHECKOUT / "templates"
MIGRATIONS_DIR = PACKAGE_DIR / "migrations" if CHECKOUT is None else CHECKOUT / "migrations"
# Where the defaults keep their files (the SQLite database, the development KEK, metrics):
# instance/ in a checkout; for an installed release Flask's convention for installed
# applications, <prefix>/var/authserver-instance (every one of them is a setting).
INSTANCE_DIR = (
    Path(sys.prefix) / "var" / "authserver-instance" if CHECKOUT is None else CHECKOUT / "instance"
)
KEYS_DIR = INSTANCE_DIR / "keys" if CHECKOUT is None else CHECKOUT / "keys"
SIGNING_ALGORITHMS = ("ES256", "RS256", "Ed25519")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Settings:
    # Public base URL; the `iss` of every token. Passkeys need a host name, not an IP address.
    issuer: str = "http://localhost:5000"
    # SQLAlchemy URL. Default: SQLite file under instance/. PostgreSQL: postgresql+psycopg://...
    # (Not in repr, like the KEK and the Redis URL: a URL may hold a password.)
    database_url: str = dataclasses.field(
        default=f"sqlite:///{INSTANCE_DIR / 'authserver.db'}", repr=False
    )
    # Folder of the development key-encryption key file (`kek`).
    keys_dir: str = str(KEYS_DIR)
    # Base64 of 32 bytes; overrides the file. Required in production.
    kek: str | None = dataclasses.field(default=None, repr=False)  # never in a traceback
    # Older KEKs (comma-separated base64) that still decrypt while `kek rotate` re-wraps.
    kek_previous: str | None = dataclasses.field(default=None, repr=False)
    # development | production. Production refuses unsafe settings at start-up.
    env: str = "development"
    # Lifetime of JWT access tokens.
    access_token_ttl_seconds: int = 600
    # Algorithm that signs access tokens (ES256, RS256 or Ed25519).
    access_token_alg: str = "ES256"  # noqa: S105
    # Default `aud` of access tokens when the request names no resource (RFC 9068 §3).
    access_token_audience: str | None = None
    # Sign-in sessions: how long one lasts.
    session_ttl_seconds: int = 12 * 3600
    # Authorization codes (RFC 6749 §4.1.2: short-lived) and refresh tokens (absolute, idle).
    authorization_code_ttl_seconds: int = 60
    refresh_token_ttl_seconds: int = 30 * 86400
    refresh_token_idle_seconds: int = 7 * 86400
    # Lifetime of ID tokens (issued by the sign-in flows); bounds how long a retired key verifies.
    id_token_ttl_seconds: int = 600
    # Clock skew tolerated when checking `exp`/`iat`/`nbf` of tokens and client assertions.
    clock_skew_seconds: int = 60
    # RFC 7523 §3: how far ahead (plus the clock skew) a client assertion's `exp` may lie. Its
    # `jti` is remembered until then, so a replay is refused for as long as it would verify.
    client_assertion_max_lifetime_seconds: int = 300
    # Cache-Control max-age of the JWKS document. None: derived from the rotation schedule.
    jwks_max_age_seconds: int | None = None
    # How often each worker re-reads the signing keys and its cached client registrations.
    keyring_refresh_seconds: int = 1
    # How often each server process checks whether a key transition is due.
    key_rotation_check_seconds: int = 30
    # How long a key is published before it signs when publish-ahead is skipped (`keys rotate
    # --now`, the replacement of a revoked active key). At least the key-ring refresh (every
    # worker publishes it by then); by default past the 30 s for which PyJWT's PyJWKClient
    # refuses to refetch a JWKS after an unknown kid, so even such a verifier finds the key.
    emergency_publish_seconds: int = 31
    # RFC 9449 §8: DPoP proofs must carry a nonce the server issued (DPoP-Nonce header).
    dpop_nonce: bool = False
    # RFC 7591/7592 dynamic client registration at /oauth/register (off: 404, not advertised).
    dynamic_registration: bool = False
    # RFC 8707: per-resource access-token algorithm and lifetime, as JSON:
    # {"https://api.example": {"alg": "RS256", "ttl": "5m"}}.
    resource_policies: str | None = None
    # RFC 9126: every authorization request must be pushed first (per client: --require-par).
    require_par: bool = False
    # Reverse proxies in front of the server whose X-Forwarded-For/-Proto to believe (0: none;
    # the client address is then the TCP peer). Set it to the number of proxy hops you run.
    trusted_proxies: int = 0
    # How long a process trusts a "not revoked" answer for a token's jti (introspection, the
    # admin API, UserInfo). None: 30 s, since revocations reach every process at once: through
    # Redis, on SQLite through a stamp file beside the database, on PostgreSQL without Redis
    # through its LISTEN/NOTIFY (and a generation counter read at most once a second, so that a
    # lost notification costs a second at most). 0: always ask the database.
    revocation_cache_ttl_seconds: int | None = None
    # Largest request body accepted; larger bodies get 413 in the endpoint's error format.
    max_body_bytes: int = 64 * 1024
    # Budgets (authserver/web/ratelimit.py), as rates: "30/minute", several separated by ";" all
    # applying ("5/minute;50/day"), "600/minute burst 100" for a bucket other than the rate's
    # amount, "off" for none. Failed authentications of API callers before 429, per client id
    # and per IP (client credentials at the OAuth endpoints, tokens and API keys at /api/v1):
    # the credential is checked first, so a right one is never refused for others' failures.
    rate_limit_client_auth: str = "30/minute"
    # Failed sign-ins per account from one address, or from one device that signed in to it
    # before, before 429: 5 a minute, then 10 in 15 minutes, 20 an hour, 50 a day.
    rate_limit_sign_in_account: str = "5/minute;10/15minutes;20/hour;50/day"
    # Failed sign-ins (and second factors, device user codes) per IP before 429.
    rate_limit_sign_in_ip: str = "100/15minutes"
    # Failed sign-ins per account from devices that never signed in to it, whatever their
    # address, before such sign-ins are slowed (never refused: the right password still works).
    sign_in_slowdown: str = "10/15minutes;30/day"
    # The longest a slowed sign-in waits (1 s, doubling with each attempt beyond the budget).
    sign_in_slowdown_max_seconds: int = 10
    # How long a device cookie (a browser that signed in to an account) is remembered.
    device_cookie_ttl_seconds: int = 180 * 86400
    # Request budgets (token buckets): dynamic registration per initial access token and per
    # IP; device authorization and PAR per client and, for callers without client
    # credentials, per IP; passkey sign-in options per IP.
    rate_limit_registration: str = "20/hour"
    rate_limit_registration_ip: str = "60/hour"
    rate_limit_device_authorization: str = "300/minute"
    rate_limit_device_authorization_ip: str = "10/minute"
    rate_limit_par: str = "600/minute"
    rate_limit_par_ip: str = "30/minute"
    rate_limit_passkey_options_ip: str = "30/minute"
    # The Redis every instance shares (redis:// or rediss://): budgets, revocation news and
    # DPoP proof jtis; while it is unreachable, the host's budgets and database checks.
    redis_address: str | None = dataclasses.field(default=None, repr=False)
    # Where budgets are counted without Redis: "host" (every worker of this host, through a
    # shared file; "memory://" means the same). A redis:// URL here is the older spelling of
    # the Redis address above.
    rate_limit_storage: str = dataclasses.field(default="host", repr=False)  # may be a URL
    # The host's shared counter file. None: beside the SQLite database (<db>.budgets), else
    # in instance/ named after the database URL.
    rate_limit_file: str | None = None
    # Whether /readyz answers 503 while Redis is unreachable (it always reports it).
    readyz_requires_redis: bool = False
    # Scopes that are never granted without a second factor (comma- or space-separated); an
    # authorization request for one steps a password-only session up.
    mfa_scopes: str = "keys:rotate"
    # Removing a factor or regenerating recovery codes needs a sign-in at most this old.
    mfa_fresh_auth_seconds: int = 300
    # Admin pages want a second factor used at most this long ago (else a step-up).
    admin_reauth_seconds: int = 900
    # Failed second-factor checks per account before back-off (30 s, doubling, at most 1 h).
    mfa_max_failures: int = 5
    # API keys: the recognisable prefix, default and longest lifetime, whether "never" is
    # allowed, and how long before expiry a warning is raised.
    apikey_prefix: str = "ask"
    apikey_default_ttl_seconds: int = 90 * 86400
    apikey_max_ttl_seconds: int = 365 * 86400
    apikey_allow_never: bool = False
    apikey_expiry_warning_seconds: int = 14 * 86400
    # Folder of the metrics shared by the server's worker processes: each `serve` instance
    # works in its own subfolder (serve-<pid>), new at start; dead instances' are removed.
    metrics_dir: str = str(INSTANCE_DIR / "metrics")
    # `serve`'s connection handling (bench/slow_clients.py measured these): connections one
    # worker holds open at once, idle ones included (more wait in the listen backlog); the time
    # a client has to send a request's head, which is also how long a keep-alive connection may
    # sit idle; and the kernel's queue of connections not yet accepted.
    worker_connections: int = 1024
    header_read_timeout_seconds: int = 10
    listen_backlog: int = 1024
    # Set by `serve` for its workers (prometheus_client's multiprocess mode); not for users.
    prometheus_multiproc_dir: str | None = None
    # Record every issued access token in the audit trail (written in the background, so the
    # token endpoint never waits on it). Counted in metrics always.
    audit_token_issuance: bool = False
    # How often each process saves its hourly usage counts (tokens issued) for the admin
    # overview; 0 saves only when asked (the tests do).
    usage_flush_seconds: int = 5
    # The gateway decision endpoint (/gateway/check): the header an API key may come in besides
    # Authorization, the life of the signed identity token it hands upstream (X-Auth-Token), and
    # how long a process trusts the route rules it read (a change made in this process is seen
    # at once; one made in another process within this long).
    gateway_apikey_header: str = "X-API-Key"
    gateway_token_ttl_seconds: int = 60
    gateway_rules_ttl_seconds: int = 1
    # One JSON line per request (method, path without query, status, duration, request id).
    access_log: bool = True
    # The lean door (oauth/lean.py) for client_credentials with a client secret and for
    # introspection: the same services without Werkzeug's request and Authlib's dispatch. Off
    # sends every request through Authlib (for debugging; the differential tests compare both).
    lean_path: bool = True
    # Flask's debug mode (FLASK_DEBUG): never in production, where it is refused at start-up.
    flask_debug: bool = False
    # Python logging level of the server (authlib's own debug logs stay off: they print tokens).
    log_level: str = "INFO"
    # json (one object per line, for a log collector), console (for a person), or auto: the
    # console format when stderr is a terminal, JSON otherwise.
    log_format: str = "auto"
    # Requests the server sends (clients' jwks_uri, back-channel logout, webhooks) go only to
    # public addresses over https; this allow-list (CIDRs and host names, comma- or
    # space-separated) admits internal ones, e.g. "10.20.0.0/16 jwks.corp.internal".
    outbound_allow: str | None = None
    # The total time one such request may take (resolution, connection, TLS, answer).
    outbound_timeout_seconds: int = 5
    # Extra CA certificates (PEM) trusted for those requests, besides the system's (private PKI).
    outbound_ca_file: str | None = None
    # The SMTP relay for mail to people (password-reset links): smtps://host:465 or
    # smtp://[user:password@]host:587 (STARTTLS required but on loopback). Unset: no mail, and
    # no "forgot password".
    smtp_url: str | None = dataclasses.field(default=None, repr=False)
    # The From of that mail; default: authserver@ the issuer's host.
    mail_from: str | None = None
    # How long a password-reset link works (single use).
    password_reset_ttl_seconds: int = 30 * 60
    # How long a set-password link an administrator hands out works (a new account's first
    # password, or a reset): longer than a mailed reset, since a person passes it on.
    set_password_link_ttl_seconds: int = 24 * 3600
    # argon2id's cost for new password hashes (m=KiB,t=passes,p=lanes; at least the OWASP
    # minimum). A hash made with another cost is remade at its owner's next sign-in.
    password_hash: str = str(DEFAULT_PASSWORD_COST)
    # Security-event webhooks: attempts per delivery (the first included) and the delay after
    # the first failed attempt; each further delay is 4 times the one before, at most 12 h, plus
    # up to 10 % jitter (so the default retries over about two days).
    webhook_max_attempts: int = 10
    webhook_retry_base_seconds: int = 30
    # How often each server process looks for due deliveries (its own are sent at once).
    webhook_poll_seconds: int = 2
    # The total time one delivery may take (Standard Webhooks recommends 15 to 30 s).
    webhook_timeout_seconds: int = 15
    # Delivered, failed and cancelled deliveries stay in the delivery log this long.
    webhook_log_retention_seconds: int = 30 * 86400
    # Retention (docs/data-protection.md): audit records older than this are pruned behind a
    # signed checkpoint (0: kept for ever); ended sessions, spent tokens' rows and usage counts
    # are deleted this long after they stopped mattering.
    audit_retention_seconds: int = 0
    session_retention_seconds: int = 90 * 86400
    token_retention_seconds: int = 30 * 86400
    usage_retention_seconds: int = 400 * 86400
    # How often the scheduler prunes what retention allows.
    retention_check_seconds: int = 3600
    # "full" or "truncated" (IPv4 /24, IPv6 /48): what is written down of a client's address.
    ip_addresses: str = "full"
    # Branding of the browser pages (authserver/platform/branding.py): the name in page titles
    # and the header; a logo file (.png, .svg, .jpg or .webp, at most 256 KiB) read at start-up
    # and served at /branding/logo; an accent colour #rrggbb for links, primary buttons and the
    # focus outline, which white button text must read at 4.5:1 (WCAG AA) on.
    brand_name: str = "authserver"
    brand_logo: str | None = None
    brand_color: str | None = None

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_https(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def audience(self) -> str:
        return self.access_token_audience or self.issuer

    @property
    def mail_sender(self) -> str:
        return self.mail_from or f"authserver@{urlsplit(self.issuer).hostname or 'localhost'}"

    @property
    def uses_redis(self) -> bool:
        return self.redis_url is not None

    @property
    def redis_url(self) -> str | None:
        if self.redis_address:
            return self.redis_address
        return self.rate_limit_storage if _is_redis(self.rate_limit_storage) else None

    @property
    def rate_limit_path(self) -> Path:
        """The file every process of this host counts budgets in."""
        if self.rate_limit_file:
            return Path(self.rate_limit_file)
        sqlite_file = self.sqlite_file
        if sqlite_file is not None:
            return sqlite_file.with_name(sqlite_file.name + ".budgets")
        name = hashlib.sha256(self.database_url.encode()).hexdigest()[:16]
        return INSTANCE_DIR / f"budgets-{name}"

    @property
    def password_cost(self) -> PasswordCost:
        return parse_password_cost(self.password_hash)

    @property
    def sqlite_file(self) -> Path | None:
        """The database file when the database is a SQLite file (all its users share one host)."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :].partition("?")[0]
        return Path(path) if path and path != ":memory:" else None

    @property
    def revocation_cache_ttl(self) -> int:
        if self.revocation_cache_ttl_seconds is not None:
            return max(self.revocation_cache_ttl_seconds, 0)
        postgresql = self.database_url.startswith("postgresql")  # its LISTEN/NOTIFY
        return 30 if self.uses_redis or self.sqlite_file is not None or postgresql else 0

    @property
    def resource_policy_map(self) -> dict:
        return parse_policies(self.resource_policies)

    @property
    def longest_token_ttl_seconds(self) -> int:
        """The longest lifetime of anything a signing key signs."""
        per_resource = [p.ttl_seconds for p in self.resource_policy_map.values() if p.ttl_seconds]
        return max(self.access_token_ttl_seconds, self.id_token_ttl_seconds, *per_resource)

    def url(self, path: str) -> str:
        return self.issuer.rstrip("/") + path


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


# Environment variable → (field, parser). The variable names are the documented interface.
_ENV_VARS: dict[str, tuple[str, Any]] = {
    "AUTHSERVER_ISSUER": ("issuer", str),
    "AUTHSERVER_DATABASE_URL": ("database_url", str),
    "AUTHSERVER_KEYS_DIR": ("keys_dir", str),
    "AUTHSERVER_KEK": ("kek", str),
    "AUTHSERVER_KEK_PREVIOUS": ("kek_previous", str),
    "AUTHSERVER_ENV": ("env", str),
    "AUTHSERVER_ACCESS_TOKEN_TTL": ("access_token_ttl_seconds", parse_duration),
    "AUTHSERVER_ACCESS_TOKEN_ALG": ("access_token_alg", str),
    "AUTHSERVER_ACCESS_TOKEN_AUDIENCE": ("access_token_audience", str),
    "AUTHSERVER_ID_TOKEN_TTL": ("id_token_ttl_seconds", parse_duration),
    "AUTHSERVER_SESSION_TTL": ("session_ttl_seconds", parse_duration),
    "AUTHSERVER_AUTHORIZATION_CODE_TTL": ("authorization_code_ttl_seconds", parse_duration),
    "AUTHSERVER_REFRESH_TOKEN_TTL": ("refresh_token_ttl_seconds", parse_duration),
    "AUTHSERVER_REFRESH_TOKEN_IDLE_TTL": ("refresh_token_idle_seconds", parse_duration),
    "AUTHSERVER_CLOCK_SKEW": ("clock_skew_seconds", parse_duration),
    "AUTHSERVER_CLIENT_ASSERTION_MAX_LIFETIME": (
        "client_assertion_max_lifetime_seconds",
        parse_duration,
    ),
    "AUTHSERVER_KEYRING_REFRESH": ("keyring_refresh_seconds", parse_duration),
    "AUTHSERVER_KEY_ROTATION_CHECK_INTERVAL": ("key_rotation_check_seconds", parse_duration),
    "AUTHSERVER_EMERGENCY_PUBLISH": ("emergency_publish_seconds", parse_duration),
    "AUTHSERVER_JWKS_MAX_AGE": ("jwks_max_age_seconds", parse_duration),
    "AUTHSERVER_MAX_BODY_BYTES": ("max_body_bytes", int),
    "AUTHSERVER_REVOCATION_CACHE_TTL": ("revocation_cache_ttl_seconds", parse_duration),
    "AUTHSERVER_TRUSTED_PROXIES": ("trusted_proxies", int),
    "AUTHSERVER_REQUIRE_PAR": ("require_par", parse_bool),
    "AUTHSERVER_DYNAMIC_REGISTRATION": ("dynamic_registration", parse_bool),
    "AUTHSERVER_DPOP_NONCE": ("dpop_nonce", parse_bool),
    "AUTHSERVER_RESOURCE_POLICIES": ("resource_policies", str),
    "AUTHSERVER_RATE_LIMIT_CLIENT_AUTH": ("rate_limit_client_auth", str),
    "AUTHSERVER_RATE_LIMIT_SIGN_IN_ACCOUNT": ("rate_limit_sign_in_account", str),
    "AUTHSERVER_RATE_LIMIT_SIGN_IN_IP": ("rate_limit_sign_in_ip", str),
    "AUTHSERVER_RATE_LIMIT_STORAGE": ("rate_limit_storage", str),
    "AUTHSERVER_REDIS_URL": ("redis_address", str),
    "AUTHSERVER_RATE_LIMIT_FILE": ("rate_limit_file", str),
    "AUTHSERVER_SIGN_IN_SLOWDOWN": ("sign_in_slowdown", str),
    "AUTHSERVER_SIGN_IN_SLOWDOWN_MAX": ("sign_in_slowdown_max_seconds", parse_duration),
    "AUTHSERVER_DEVICE_COOKIE_TTL": ("device_cookie_ttl_seconds", parse_duration),
    "AUTHSERVER_RATE_LIMIT_REGISTRATION": ("rate_limit_registration", str),
    "AUTHSERVER_RATE_LIMIT_REGISTRATION_IP": ("rate_limit_registration_ip", str),
    "AUTHSERVER_RATE_LIMIT_DEVICE_AUTHORIZATION": ("rate_limit_device_authorization", str),
    "AUTHSERVER_RATE_LIMIT_DEVICE_AUTHORIZATION_IP": ("rate_limit_device_authorization_ip", str),
    "AUTHSERVER_RATE_LIMIT_PAR": ("rate_limit_par", str),
    "AUTHSERVER_RATE_LIMIT_PAR_IP": ("rate_limit_par_ip", str),
    "AUTHSERVER_RATE_LIMIT_PASSKEY_OPTIONS_IP": ("rate_limit_passkey_options_ip", str),
    "AUTHSERVER_READYZ_REQUIRES_REDIS": ("readyz_requires_redis", parse_bool),
    "AUTHSERVER_MFA_SCOPES": ("mfa_scopes", str),
    "AUTHSERVER_MFA_FRESH_AUTH": ("mfa_fresh_auth_seconds", parse_duration),
    "AUTHSERVER_MFA_MAX_FAILURES": ("mfa_max_failures", int),
    "AUTHSERVER_ADMIN_REAUTH": ("admin_reauth_seconds", parse_duration),
    "AUTHSERVER_APIKEY_PREFIX": ("apikey_prefix", str),
    "AUTHSERVER_APIKEY_DEFAULT_TTL": ("apikey_default_ttl_seconds", parse_duration),
    "AUTHSERVER_APIKEY_MAX_TTL": ("apikey_max_ttl_seconds", parse_duration),
    "AUTHSERVER_APIKEY_ALLOW_NEVER": ("apikey_allow_never", parse_bool),
    "AUTHSERVER_APIKEY_EXPIRY_WARNING": ("apikey_expiry_warning_seconds", parse_duration),
    "AUTHSERVER_METRICS_DIR": ("metrics_dir", str),
    "AUTHSERVER_WORKER_CONNECTIONS": ("worker_connections", int),
    "AUTHSERVER_HEADER_READ_TIMEOUT": ("header_read_timeout_seconds", parse_duration),
    "AUTHSERVER_LISTEN_BACKLOG": ("listen_backlog", int),
    "AUTHSERVER_LOG_LEVEL": ("log_level", str),
    "AUTHSERVER_LOG_FORMAT": ("log_format", str),
    "AUTHSERVER_ACCESS_LOG": ("access_log", parse_bool),
    "AUTHSERVER_LEAN_PATH": ("lean_path", parse_bool),
    "AUTHSERVER_USAGE_FLUSH_INTERVAL": ("usage_flush_seconds", parse_duration),
    "AUTHSERVER_GATEWAY_APIKEY_HEADER": ("gateway_apikey_header", str),
    "AUTHSERVER_GATEWAY_TOKEN_TTL": ("gateway_token_ttl_seconds", parse_duration),
    "AUTHSERVER_GATEWAY_RULES_TTL": ("gateway_rules_ttl_seconds", parse_duration),
    "AUTHSERVER_AUDIT_TOKEN_ISSUANCE": ("audit_token_issuance", parse_bool),
    "AUTHSERVER_OUTBOUND_ALLOW": ("outbound_allow", str),
    "AUTHSERVER_SMTP_URL": ("smtp_url", str),
    "AUTHSERVER_MAIL_FROM": ("mail_from", str),
    "AUTHSERVER_PASSWORD_RESET_TTL": ("password_reset_ttl_seconds", parse_duration),
    "AUTHSERVER_SET_PASSWORD_LINK_TTL": ("set_password_link_ttl_seconds", parse_duration),
    "AUTHSERVER_PASSWORD_HASH": ("password_hash", str),
    "AUTHSERVER_OUTBOUND_TIMEOUT": ("outbound_timeout_seconds", parse_duration),
    "AUTHSERVER_OUTBOUND_CA_FILE": ("outbound_ca_file", str),
    "AUTHSERVER_WEBHOOK_MAX_ATTEMPTS": ("webhook_max_attempts", int),
    "AUTHSERVER_WEBHOOK_RETRY_BASE": ("webhook_retry_base_seconds", parse_duration),
    "AUTHSERVER_WEBHOOK_POLL_INTERVAL": ("webhook_poll_seconds", parse_duration),
    "AUTHSERVER_WEBHOOK_TIMEOUT": ("webhook_timeout_seconds", parse_duration),
    "AUTHSERVER_WEBHOOK_LOG_RETENTION": ("webhook_log_retention_seconds", parse_duration),
    "AUTHSERVER_AUDIT_RETENTION": ("audit_retention_seconds", parse_duration),
    "AUTHSERVER_SESSION_RETENTION": ("session_retention_seconds", parse_duration),
    "AUTHSERVER_TOKEN_RETENTION": ("token_retention_seconds", parse_duration),
    "AUTHSERVER_USAGE_RETENTION": ("usage_retention_seconds", parse_duration),
    "AUTHSERVER_RETENTION_CHECK_INTERVAL": ("retention_check_seconds", parse_duration),
    "AUTHSERVER_IP_ADDRESSES": ("ip_addresses", str),
    "AUTHSERVER_BRAND_NAME": ("brand_name", str),
    "AUTHSERVER_BRAND_LOGO": ("brand_logo", str),
    "AUTHSERVER_BRAND_COLOR": ("brand_color", str),
    "PROMETHEUS_MULTIPROC_DIR": ("prometheus_multiproc_dir", str),
    "FLASK_DEBUG": ("flask_debug", parse_bool),
}
_FIELD_TO_VAR = {field: var for var, (field, _) in _ENV_VARS.items()}


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Settings from the environment, then ``overrides`` (field names), validated."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var, (field, parse) in _ENV_VARS.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            values[field] = parse(raw)
        except ValueError as e:
            raise ConfigError(f"{var}: {e}") from None
    known = {f.name for f in dataclasses.fields(Settings)}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = value
    settings = Settings(**values)
    validate(settings)
    return settings


#: AUTHSERVER_* variables that are not settings but are read by this repository's own tools
#: (the test suite's backend and soak length): not reported as unknown.
TOOL_VARIABLES = frozenset({"AUTHSERVER_TEST_BACKEND", "AUTHSERVER_SOAK_SECONDS"})


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """AUTHSERVER_* variables that name no setting (a misspelt one is otherwise ignored without
    a word), each with the setting it most likely meant."""
    import difflib

    environ = os.environ if environ is None else environ
    found = []
    for name in sorted(environ):
        if not name.startswith("AUTHSERVER_") or name in _ENV_VARS or name in TOOL_VARIABLES:
            continue
        close = difflib.get_close_matches(name, list(_ENV_VARS), n=1, cutoff=0.8)
        found.append(f"{name} is not a setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return found


#: Settings that are rates (authserver.platform.rates syntax).
RATE_FIELDS = (
    "rate_limit_client_auth",
    "rate_limit_sign_in_account",
    "rate_limit_sign_in_ip",
    "sign_in_slowdown",
    "rate_limit_registration",
    "rate_limit_registration_ip",
    "rate_limit_device_authorization",
    "rate_limit_device_authorization_ip",
    "rate_limit_par",
    "rate_limit_par_ip",
    "rate_limit_passkey_options_ip",
)


def validate(settings: Settings) -> None:
    def fail(field: str, message: str) -> None:
        raise ConfigError(f"{_FIELD_TO_VAR.get(field, field)}: {message}")

    parts = urlsplit(settings.issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail("issuer", "must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        fail("issuer", "must not have a query or fragment (RFC 8414 §2)")
    if settings.env not in ("development", "production"):
        fail("env", "must be 'development' or 'production'")
    if settings.access_token_alg not in SIGNING_ALGORITHMS:
        fail("access_token_alg", f"must be one of {', '.join(SIGNING_ALGORITHMS)}")
    for field in (
        "access_token_ttl_seconds",
        "id_token_ttl_seconds",
        "session_ttl_seconds",
        "authorization_code_ttl_seconds",
        "refresh_token_ttl_seconds",
        "refresh_token_idle_seconds",
        "client_assertion_max_lifetime_seconds",
        "max_body_bytes",
        "key_rotation_check_seconds",
        "mfa_fresh_auth_seconds",
        "mfa_max_failures",
        "admin_reauth_seconds",
        "device_cookie_ttl_seconds",
        "outbound_timeout_seconds",
        "webhook_retry_base_seconds",
        "webhook_poll_seconds",
        "webhook_timeout_seconds",
        "webhook_log_retention_seconds",
        "session_retention_seconds",
        "token_retention_seconds",
        "usage_retention_seconds",
        "retention_check_seconds",
        "worker_connections",
        "header_read_timeout_seconds",
    ):
        if getattr(settings, field) <= 0:
            fail(field, "must be positive")
    if settings.emergency_publish_seconds <= settings.keyring_refresh_seconds:
        fail("emergency_publish_seconds", "must exceed AUTHSERVER_KEYRING_REFRESH (every worker "
             "must publish a key before it signs)")  # fmt: skip
    if not 1 <= settings.webhook_max_attempts <= 50:
        fail("webhook_max_attempts", "must be 1 to 50")
    if settings.jwks_max_age_seconds is not None and settings.jwks_max_age_seconds <= 0:
        fail("jwks_max_age_seconds", "must be positive")
    if not 128 <= settings.listen_backlog <= 65535:
        fail("listen_backlog", "must be 128 to 65535")
    if not 0 <= settings.trusted_proxies <= 10:
        fail("trusted_proxies", "must be 0 to 10 (the number of proxy hops in front)")
    for field in (
        "clock_skew_seconds",
        "keyring_refresh_seconds",
        "usage_flush_seconds",
        "sign_in_slowdown_max_seconds",
        "gateway_rules_ttl_seconds",
    ):
        if getattr(settings, field) < 0:
            fail(field, "must not be negative")
    for field in RATE_FIELDS:
        try:
            parse_rates(getattr(settings, field))
        except ValueError as e:
            fail(field, f"{e}; a rate such as 30/minute, 10/15minutes, 600/minute burst 100, off")
    if not (settings.rate_limit_storage in ("host", "memory://")
            or _is_redis(settings.rate_limit_storage)):  # fmt: skip
        fail("rate_limit_storage", "host (this host's shared counters) or a redis:// URL")
    if settings.redis_address is not None:
        if not _is_redis(settings.redis_address):
            fail("redis_address", "a redis:// or rediss:// URL")
        if _is_redis(settings.rate_limit_storage) and (
            settings.rate_limit_storage != settings.redis_address
        ):
            fail("redis_address", "names another Redis than AUTHSERVER_RATE_LIMIT_STORAGE; set one")
    if settings.kek is not None:
        decode_kek(settings.kek, name=_FIELD_TO_VAR["kek"])
    for older in (settings.kek_previous or "").split(","):
        if older.strip():
            decode_kek(older, name=_FIELD_TO_VAR["kek_previous"])
    if not re.match(r"^[A-Za-z][A-Za-z0-9-]{0,63}$", settings.gateway_apikey_header):
        fail("gateway_apikey_header", "must be a header name (letters, digits and dashes)")
    if not 1 <= settings.gateway_token_ttl_seconds <= 3600:
        fail("gateway_token_ttl_seconds", "must be 1 second to 1 hour")
    if not re.match(r"^[a-z][a-z0-9]{1,15}$", settings.apikey_prefix):
        fail("apikey_prefix", "must be 2-16 lowercase letters and digits, starting with a letter")
    if not 0 < settings.apikey_default_ttl_seconds <= settings.apikey_max_ttl_seconds:
        fail("apikey_default_ttl_seconds", "must be positive and at most the maximum")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail("log_level", "must be DEBUG, INFO, WARNING or ERROR")
    if settings.smtp_url is not None:
        smtp = urlsplit(settings.smtp_url)
        if smtp.scheme not in ("smtp", "smtps") or not smtp.hostname:
            fail("smtp_url", "smtp://host:587 or smtps://host:465 (a user and password may go "
                 "before the host)")  # fmt: skip
    if not 60 <= settings.password_reset_ttl_seconds <= 86400:
        fail("password_reset_ttl_seconds", "from 1m to 24h")
    if not 60 <= settings.set_password_link_ttl_seconds <= 7 * 86400:
        fail("set_password_link_ttl_seconds", "from 1m to 7d")
    try:
        parse_password_cost(settings.password_hash)
    except ValueError as e:
        fail("password_hash", str(e))
    if settings.audit_retention_seconds < 0:
        fail("audit_retention_seconds", "0 (kept for ever) or a duration")
    if 0 < settings.audit_retention_seconds < 7 * 86400:
        # A webhook delivery retries for about two days: its record must outlive it.
        fail("audit_retention_seconds", "at least 7d (or 0: kept for ever)")
    if settings.ip_addresses not in ("full", "truncated"):
        fail("ip_addresses", "must be full or truncated")
    if settings.log_format not in ("auto", "json", "console"):
        fail("log_format", "must be auto, json or console")
    settings.resource_policy_map  # noqa: B018 - raises ConfigError on a bad value
    if not settings.database_url.startswith(("sqlite:", "postgresql")):
        fail("database_url", "must be a sqlite:// or postgresql+psycopg:// URL")
    try:
        parse_allow_list(settings.outbound_allow or "")
    except ValueError as e:
        fail("outbound_allow", str(e))
    if settings.outbound_ca_file is not None and not Path(settings.outbound_ca_file).is_file():
        fail("outbound_ca_file", "must be a file of PEM certificates")
    _validate_branding(settings, fail)


def _validate_branding(settings: Settings, fail: Any) -> None:
    name = settings.brand_name
    if not name.strip() or len(name) > 64 or not name.isprintable():
        fail("brand_name", "must be 1 to 64 printable characters")
    for field, parse in (("brand_logo", branding.read_logo), ("brand_color", branding.parse_color)):
        if getattr(settings, field) is not None:
            try:
                parse(getattr(settings, field))
            except ValueError as e:
                fail(field, str(e))


def decode_kek(text: str, *, name: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name}: must be base64 of 32 bytes") from None
    if len(raw) != 32:
        raise ConfigError(f"{name}: must be base64 of 32 bytes (got {len(raw)})")
    return raw


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
