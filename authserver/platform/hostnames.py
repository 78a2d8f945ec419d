"""Host names and networks as operators write them (``AUTHSERVER_OUTBOUND_ALLOW``): the syntax
``config`` validates at start-up and ``outbound`` applies."""

from __future__ import annotations

import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_list(text: str) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    """``10.0.0.0/8, 192.168.1.5 jwks.internal``: networks and host names; ValueError if an
    entry is neither."""
    networks, hosts = [], set()
    for entry in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        name = entry.lower().rstrip(".")
        if not is_dns_name(name):
            raise ValueError(f"{entry!r} is neither a network (CIDR) nor a host name")
        hosts.add(name)
    return tuple(networks), frozenset(hosts)


def is_dns_name(host: str) -> bool:
    labels = host.split(".")
    return len(host) <= 253 and all(
        0 < len(label) <= 63
        and all(c.isalnum() or c == "-" for c in label)
        and label.isascii()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )
