"""How much of a client's IP address is kept: ``AUTHSERVER_IP_ADDRESSES``.

``full`` (the default) keeps the address; ``truncated`` keeps the network only, as web analytics
do for GDPR's data minimisation (Art. 5(1)(c)): an IPv4 address to its /24, an IPv6 address to
its /48, so ``198.51.100.7`` is kept as ``198.51.100.0``. It applies to what is written down
(audit records, the access log, sessions, an API key's last use); rate limits and IP allow-lists
decide on the full address, which is never stored.
"""

from __future__ import annotations

import ipaddress

MODES = ("full", "truncated")
_PREFIX = {4: 24, 6: 48}
_mode = "full"


def use_ip_addresses(mode: str) -> None:
    global _mode
    if mode not in MODES:
        raise ValueError(f"one of {', '.join(MODES)}")
    _mode = mode


def minimised_ip(address: str | None) -> str | None:
    """The address as it may be written down under the setting."""
    if _mode == "full" or not address:
        return address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""  # not an address (a unix socket's peer): nothing to keep
    network = ipaddress.ip_network(f"{ip}/{_PREFIX[ip.version]}", strict=False)
    return str(network.network_address)
