"""Which URLs, hosts and addresses the server may send a request to.

Following the OWASP SSRF Prevention Cheat Sheet, a URL a client or an administrator registered
(a ``jwks_uri``, a ``backchannel_logout_uri``, a webhook endpoint) is trusted for nothing:

- the scheme is ``https``; ``http`` only in development, and only to this machine (loopback);
- no credentials in the URL, no fragment, a host that is a DNS name or an IP literal;
- the address the request goes to is a public (globally routable) unicast address: never
  loopback, link-local (cloud metadata at 169.254.169.254), private (RFC 1918), shared (CGNAT,
  RFC 6598), unique-local IPv6 (fc00::/7), multicast, unspecified or reserved, nor an IPv6
  address that embeds one of those (IPv4-mapped, NAT64, 6to4, Teredo); well-known metadata host
  names are refused by name as well;
- unless the operator's allow-list (``AUTHSERVER_OUTBOUND_ALLOW``: CIDRs and host names) admits
  the address or the host. In development, loopback is admitted so that a laptop can test.

``check_url`` applies what can be decided from the URL alone (registration uses it, so a bad URL
is refused when it is registered, naming the rule); ``check_address`` is applied by the client
to every address the host resolves to, right before it connects to one of them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from urllib.parse import urlsplit

from authserver.platform.config import Settings
from authserver.platform.hostnames import IPNetwork, is_dns_name, parse_allow_list

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud instance-metadata services by name (their addresses are link-local or unique-local).
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
    "instance-data.ec2.internal", "metadata.azure.internal", "metadata.tencentyun.com",
})  # fmt: skip
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_MAX_URL = 2000


class UrlRefused(ValueError):
    """The URL or the address it leads to is not one the server sends requests to; ``rule``
    names which rule refused it, the message says it in words."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a checked URL leads: what the request is sent to and asks for."""

    scheme: str
    host: str  # lower case, brackets removed from an IPv6 literal
    port: int
    path: str  # path and query, as sent in the request line
    literal: IPAddress | None  # the host, when it is an IP address

    @property
    def origin(self) -> str:
        """scheme://host:port: what logs may show of a destination (never its path or query,
        which may carry tokens)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class OutboundPolicy:
    development: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        networks, hosts = parse_allow_list(settings.outbound_allow or "")
        return cls(development=not settings.is_production, allowed_networks=networks,
                   allowed_hosts=hosts)  # fmt: skip

    def check_url(self, url: str) -> Target:
        if not isinstance(url, str) or len(url) > _MAX_URL or any(ord(c) < 0x21 for c in url):
            raise UrlRefused("syntax", "must be an absolute URL without spaces or controls")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UrlRefused("syntax", "is not a valid URL") from None
        if parts.scheme not in ("https", "http"):
            raise UrlRefused("scheme", "must use https")
        if parts.username is not None or parts.password is not None:
            raise UrlRefused("credentials", "must not carry a user name or password")
        if parts.fragment:
            raise UrlRefused("syntax", "must not have a fragment")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise UrlRefused("syntax", "has no host")
        literal = _literal(host)
        if literal is None and not is_dns_name(host):
            raise UrlRefused("syntax", f"host {host!r} is not a DNS name or an IP address")
        target = Target(
            scheme=parts.scheme, host=host, port=port or (443 if parts.scheme == "https" else 80),
            path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""), literal=literal,
        )  # fmt: skip
        loopback = _is_loopback_name(host) or (literal is not None and _embedded(literal)
                                                .is_loopback)  # fmt: skip
        if parts.scheme == "http" and not (self.development and loopback):
            raise UrlRefused("scheme", "must use https (http only to this machine in development)")
        if host in self.allowed_hosts:
            return target
        if host in METADATA_HOSTS:
            raise UrlRefused("address", f"{host} is a cloud metadata service")
        if loopback and not self.development and literal is None:
            raise UrlRefused("address", f"{host} is this machine")
        if literal is not None:
            self.check_address(target, literal)
        return target

    def check_address(self, target: Target, address: IPAddress) -> None:
        """Raise UrlRefused unless a request for ``target`` may be sent to ``address``."""
        if target.host in self.allowed_hosts:
            return
        if any(address in network for network in self.allowed_networks):
            return
        inner = _embedded(address)
        if self.development and inner.is_loopback:
            return
        if not inner.is_global or inner.is_multicast or inner.is_reserved:
            raise UrlRefused(
                "address",
                f"{target.host} leads to {_kind(inner)} address {address} "
                "(unless AUTHSERVER_OUTBOUND_ALLOW admits it)",
            )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4, Teredo), else itself:
    ``::ffff:127.0.0.1`` is loopback however it is written."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def _kind(address: IPAddress) -> str:
    kinds = (
        (address.is_loopback, "a loopback"),
        (address.is_link_local, "a link-local"),
        (address.is_multicast, "a multicast"),
        (address.is_unspecified, "an unspecified"),
        (address.is_private, "a private"),
        (address.is_reserved, "a reserved"),
    )
    for test, name in kinds:
        if test:
            return name
    return "a non-public"


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")
