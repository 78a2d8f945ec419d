"""The gateway's decision for one request an API gateway forwards: allow (with the identity to
hand upstream) or deny (401 no or bad credential, 403 not permitted, 429 over a limit).

The request the gateway asks about (``Original``) comes from the headers each gateway sends:
nginx ``auth_request`` (``X-Original-Method``, ``X-Original-URI``; or ``X-Original-URL``),
Caddy ``forward_auth`` and Traefik ``ForwardAuth`` (``X-Forwarded-Method``,
``X-Forwarded-Uri``, ``X-Forwarded-Host``, ``X-Forwarded-Proto``), or Envoy's HTTP
``ext_authz``, which sends the original method and host and appends the original path to the
check URL. The endpoint trusts these headers: only the gateway may reach it (docs/gateway.md).

A credential is checked by the functions every other door uses: ``read_access_token`` and
``AccessToken.is_revoked`` (the revocation news introspection hears, so a revoked token is
refused at once), the DPoP proof check with the original method and URL as ``htm``/``htu``
(RFC 9449 §4.3), and ``check_presented_key`` (an API key narrowed by its owner's roles).
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import quote, unquote, urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Request

from authserver.apikeys import format as keyformat
from authserver.apikeys.service import PresentedKey, check_presented_key, ip_allowed
from authserver.budgets.credential_limits import token_principal
from authserver.gateway.rules import CompiledRule, Match, RuleSpec, compile_rule, first_match
from authserver.models import GatewayRule
from authserver.oauth.dpop import check_request
from authserver.oauth.tokens import AccessToken, is_for, read_access_token
from authserver.platform.errors import InvalidInput
from authserver.platform.runtime import Runtime

ALLOWED = "allowed"
DENIED_SCOPE = "denied_scope"
RATE_LIMITED = "rate_limited"
QUOTA_EXHAUSTED = "quota_exhausted"
INVALID = "invalid"
NO_CREDENTIAL = "no_credential"
NO_RULE = "no_rule"
BAD_REQUEST = "bad_request"


@dataclasses.dataclass(frozen=True)
class Original:
    """The request the gateway asks about."""

    method: str
    scheme: str
    host: str  # lowercased, without the port: what rules match
    # Percent-decoded, dot segments refused (``normalised_path``); the query is not part of it.
    path: str
    # As the client sent it: what a DPoP proof's htu names (scheme, host and path, no query).
    raw_path: str
    # Host and port as the client addressed them, the scheme's default port dropped: what the
    # URL (a DPoP proof's htu, an identity token's audience) names.
    authority: str = ""

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.authority or self.host}"

    @property
    def url(self) -> str:
        return self.origin + self.raw_path


_DEFAULT_PORTS = {"http": "80", "https": "443"}
# A DNS name or an IPv4 address (RFC 3986 §3.2.2 reg-name, narrowed to what DNS allows, with
# "_" as internal names have it), or a bracketed IPv6 literal.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}|\[[0-9a-f:.]+\]")
_METHOD = re.compile(r"[A-Z]{1,20}")


def _host(value: str) -> str:
    host = value.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.split(":")[0]


def _host_and_authority(value: str, scheme: str) -> tuple[str, str] | None:
    """(host for the rules, host[:port] for URLs), the scheme's own port dropped (RFC 3986
    §6.2.3); None when ``value`` is not a host. One trailing dot goes: ``api.example.`` is the
    name nginx routes and hands upstream as ``api.example``, and host rules must see that."""
    value = value.strip().lower()
    if not value:
        return "", ""
    host = _host(value)
    if not value.startswith(host):  # "[::1" without its bracket
        return None
    port = value[len(host) :]
    if port:
        digits = port[1:]
        if port[0] != ":" or not (digits.isascii() and digits.isdigit() and len(digits) <= 5):
            return None
        if not 0 < int(digits) <= 65535:
            return None
        port = str(int(digits))
    host = host.removesuffix(".")
    if not _HOST_NAME.fullmatch(host):
        return None
    if not port or port == _DEFAULT_PORTS.get(scheme):
        return host, host
    return host, f"{host}:{port}"


def _path_of(uri: str) -> str | None:
    """The path of a request target in origin form (RFC 9112 §3.2.1), never parsed as a URL:
    ``//admin/users`` is a path, not a host. A fragment or a control character is refused (no
    client sends one; an upstream may read what follows it differently)."""
    if "#" in uri or any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        return None
    return uri.split("?", 1)[0] or None


# A request described more than once (say X-Original-URI beside X-Forwarded-Uri) is refused:
# a gateway sends one description and passes the client's other headers through, so a second
# one may be the client's, and rules must not be matched against what the client chose.
_NGINX = ("X-Original-URL", "X-Original-URI", "X-Original-Method")
_FORWARD_AUTH = ("X-Forwarded-Uri", "X-Forwarded-Method")


def _described_twice(headers, appended: str | None) -> bool:  # noqa: ANN001
    nginx = [h for h in _NGINX if headers.get(h)]
    forward = [h for h in _FORWARD_AUTH if headers.get(h)]
    if nginx and forward:
        return True
    if headers.get("X-Original-URL") and headers.get("X-Original-URI"):
        return True
    return appended is not None and bool(nginx or forward)


def normalised_path(raw: str) -> str | None:
    """The path an upstream will route, from the percent-encoded path of a request target; None
    when it could be read two ways: an encoded slash, backslash or NUL, bytes that are not
    UTF-8, or a dot segment (``/public/../admin``), which a gateway and an upstream may resolve
    differently (the path confusion behind many auth bypasses)."""
    if not raw.startswith("/"):
        return None
    lowered = raw.lower()
    if any(bad in lowered for bad in ("%2f", "%5c", "%00")):
        return None
    try:
        return decoded_path(unquote(raw, errors="strict"))
    except UnicodeDecodeError:
        return None


def decoded_path(path: str) -> str | None:
    """``normalised_path`` for a path already decoded (Envoy's, through ``PATH_INFO``)."""
    if "\\" in path or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return None
    if any(twice in path.lower() for twice in ("%2e", "%2f", "%5c", "%00")):
        return None  # encoded twice: an upstream that decodes again would see a dot or slash
    # Repeated slashes collapse, as nginx's merge_slashes and most routers do: "//a//b" is
    # "/a/b", which is what the upstream is handed.
    path = re.sub("/{2,}", "/", path)
    # "..;x" is a dot segment to servers that drop a segment's ;parameters (Tomcat, Jetty).
    if any(s.split(";", 1)[0] in (".", "..") for s in path.split("/")):
        return None
    return path


def _envoy_path(appended: str) -> tuple[str, str | None]:
    """(the path re-encoded, as a DPoP proof's htu names it; the path for the rules)."""
    try:
        path = ("/" + appended).encode("latin-1").decode("utf-8")
    except UnicodeError:
        return "", None
    return quote(path, safe="/:@!$&'()*+,;=-._~"), decoded_path(path)


def _repeated(headers) -> bool:  # noqa: ANN001
    """A header sent twice, which WSGI joins with ", " (PEP 3333): a method or host list, or a
    URI with white space, which no gateway sends for one request (it escapes its URIs)."""
    if any("," in headers.get(h, "") for h in ("X-Original-Method", "X-Forwarded-Method",
                                               "X-Forwarded-Host")):  # fmt: skip
        return True
    return any(any(c.isspace() for c in headers.get(h, ""))
               for h in ("X-Original-URL", "X-Original-URI", "X-Forwarded-Uri"))  # fmt: skip


def original_request(request: Request, appended: str | None) -> Original | None:
    """The original request from the gateway's headers; None when they do not describe one."""
    headers = request.headers
    if _described_twice(headers, appended):
        return None
    if _repeated(headers):
        return None
    url = headers.get("X-Original-URL")
    method = headers.get("X-Original-Method") or headers.get("X-Forwarded-Method")
    uri = headers.get("X-Original-URI") or headers.get("X-Forwarded-Uri")
    scheme = headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
    host = headers.get("X-Forwarded-Host", "").strip()
    if url:
        try:
            parts = urlsplit(url)
        except ValueError:  # a malformed host, such as "http://[::1"
            return None
        if "#" in url or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            return None
        scheme, host, uri = parts.scheme, parts.netloc, parts.path or "/"
    if uri is None and appended is not None:
        # Envoy ext_authz: the original path follows the check path, decoded by the WSGI
        # server (PEP 3333: its bytes as Latin-1); its method is ours.
        raw_path, path = _envoy_path(appended)
        method = method or request.method
    elif uri:
        raw_path = _path_of(uri)
        path = normalised_path(raw_path) if raw_path is not None else None
    else:
        return None
    if path is None or not method or not _METHOD.fullmatch(method.strip().upper()):
        return None
    method = method.strip().upper()
    scheme = scheme.lower() if scheme.lower() in ("http", "https") else request.scheme
    named = _host_and_authority(host or headers.get("Host", ""), scheme)
    if named is None:
        return None
    return Original(method, scheme, named[0], path, raw_path, named[1])


@dataclasses.dataclass(frozen=True)
class Credential:
    """A credential that checked out."""

    kind: str  # jwt, dpop, api_key
    subject: str
    client_id: str | None
    scopes: frozenset[str]
    principal: str  # whom its usage and limits are counted against
    token: AccessToken | None = None
    key: PresentedKey | None = None

    @property
    def key_id(self) -> str | None:
        return self.key.key_id if self.key is not None else None


@dataclasses.dataclass(frozen=True)
class Refusal:
    status: int
    outcome: str
    # RFC 6750 §3: the error a 401 or 403 names in WWW-Authenticate.
    error: str | None = None
    description: str = ""
    principal: str | None = None


def presented(request: Request, runtime: Runtime) -> tuple[str, str] | None:
    """(scheme, credential) from ``Authorization`` or the API-key header; None without one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() in ("bearer", "dpop") and value:
        return scheme.lower(), value
    key = request.headers.get(runtime.settings.gateway_apikey_header, "").strip()
    if key:
        return "apikey", key
    return None


def check_credential(
    request: Request, original: Original, scheme: str, value: str, runtime: Runtime
) -> Credential | Refusal:
    settings = runtime.settings
    if scheme in ("bearer", "apikey") and keyformat.looks_like_key(value, settings.apikey_prefix):
        return _check_key(request, value, runtime)
    if scheme == "apikey":
        return Refusal(401, INVALID, "invalid_token", "The API key is not valid.")
    token = read_access_token(value, settings, runtime.keyring)
    if token is None or token.is_expired() or token.is_revoked():
        principal = token_principal(token.claims) if token is not None else None
        return Refusal(401, INVALID, "invalid_token", "The access token is not valid.",
                       principal)  # fmt: skip
    principal = token_principal(token.claims)
    jkt = (token.claims.get("cnf") or {}).get("jkt")
    if scheme == "bearer":
        if jkt is not None:  # RFC 9449 §7.2: a bound token is never a bearer token
            return Refusal(401, INVALID, "invalid_token",
                           "A DPoP-bound token needs the DPoP scheme.", principal)  # fmt: skip
        kind = "jwt"
    else:
        refusal = _check_proof(request, original, value, jkt, runtime, principal)
        if refusal is not None:
            return refusal
        kind = "dpop"
    return Credential(kind, token.claims["sub"], token.client_id,
                      frozenset(token.scope.split()), principal, token=token)  # fmt: skip


def _check_proof(
    request: Request, original: Original, value: str, jkt: str | None, runtime: Runtime,
    principal: str,
) -> Refusal | None:  # fmt: skip
    if jkt is None:
        return Refusal(401, INVALID, "invalid_token", "The access token is not DPoP-bound.",
                       principal)  # fmt: skip
    try:
        proof = check_request(runtime.settings, request, original.url, value,
                              method=original.method)  # fmt: skip
    except OAuth2Error as e:
        return Refusal(401, INVALID, "invalid_dpop_proof", e.description or "", principal)
    if proof is None:
        return Refusal(401, INVALID, "invalid_dpop_proof", "A DPoP proof is required.", principal)
    if proof.jkt != jkt:
        return Refusal(401, INVALID, "invalid_dpop_proof",
                       "The proof is not signed by the token's key.", principal)  # fmt: skip
    return None


def _check_key(request: Request, value: str, runtime: Runtime) -> Credential | Refusal:
    key = check_presented_key(runtime.settings, value, runtime.revocations)
    if key is None or not ip_allowed(key, request.remote_addr):
        parts = keyformat.parse(value, runtime.settings.apikey_prefix)
        principal = f"apikey:{parts.key_id}" if key is not None and parts else None
        return Refusal(401, INVALID, "invalid_token", "The API key is not valid.", principal)
    return Credential("api_key", key.subject, key.owner_client_id, frozenset(key.scopes),
                      f"apikey:{key.key_id}", key=key)  # fmt: skip


def check_rule(rule: CompiledRule, credential: Credential) -> Refusal | None:
    """What the rule asks of a credential that checked out: its kind, audience and scopes."""
    spec = rule.spec
    if credential.kind not in spec.credentials:
        return Refusal(401, INVALID, "invalid_token",
                       f"This route does not take a credential of kind {credential.kind}.",
                       credential.principal)  # fmt: skip
    if (
        spec.audience
        and credential.token is not None
        and not is_for(credential.token.claims, spec.audience)
    ):
        return Refusal(401, INVALID, "invalid_token", "The access token is for another audience.",
                       credential.principal)  # fmt: skip
    wanted = set(spec.scopes)
    if wanted:
        enough = (wanted <= credential.scopes if spec.scope_match == "all"
                  else bool(wanted & credential.scopes))  # fmt: skip
        if not enough:
            return Refusal(403, DENIED_SCOPE, "insufficient_scope",
                           "The credential lacks a scope this route requires.",
                           credential.principal)  # fmt: skip
    return None


def explain(method: str, url: str, rules: list[GatewayRule]) -> tuple[Original, Match]:
    """The dry run: the request ``method url`` would meet, and which rule decides it (every
    enabled rule tried in order, each skipped one with the reason)."""
    url = url.strip()
    scheme, named, target = "https", ("", ""), url
    # A bare path asks about any host; "host/path" and whole URLs name one.
    if not url.startswith("/"):
        try:
            parts = urlsplit(url if "://" in url else "https://" + url)
        except ValueError:  # a malformed host, such as "https://[::1"
            raise InvalidInput("url: not a URL") from None
        scheme = parts.scheme.lower() or "https"
        named = _host_and_authority(parts.netloc, scheme)
        if named is None or "#" in url:
            raise InvalidInput("url: not a URL")
        target = parts.path or "/"
    raw_path = _path_of(target)
    path = normalised_path(raw_path) if raw_path is not None else None
    if path is None:
        raise InvalidInput("the path has encoded slashes, dot segments or a fragment: always "
                           "denied")  # fmt: skip
    original = Original(method.strip().upper(), scheme, named[0], path, raw_path, named[1])
    compiled = [compile_rule(r.rule_id, RuleSpec.of(r)) for r in rules if r.enabled]
    return original, first_match(compiled, original.method, original.host, original.path)
