"""Which URLs the server may send requests to (OWASP SSRF Prevention Cheat Sheet), decided from
the URL alone, and which rule refused the rest."""

from __future__ import annotations

import ipaddress

import pytest

from authserver.outbound.policy import OutboundPolicy, UrlRefused, parse_allow_list

PRODUCTION = OutboundPolicy(development=False)
DEVELOPMENT = OutboundPolicy(development=True)


@pytest.mark.parametrize(
    "url, rule",
    [
        ("http://127.0.0.1:6379/", "scheme"),  # Redis on this machine, in production
        ("http://example.com/jwks", "scheme"),
        ("ftp://example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("https://user:secret@example.com/", "credentials"),
        ("https://example.com/jwks#keys", "syntax"),
        ("https:///nohost", "syntax"),
        ("https://exa mple.com/", "syntax"),
        ("https://bad_host!/", "syntax"),
        ("https://169.254.169.254/latest/meta-data/", "address"),  # cloud metadata
        ("https://[fd00:ec2::254]/", "address"),  # the IPv6 one
        ("https://metadata.google.internal/computeMetadata/v1/", "address"),
        ("https://10.1.2.3/", "address"),
        ("https://172.16.0.1/", "address"),
        ("https://192.168.1.1/", "address"),
        ("https://100.64.0.1/", "address"),  # CGNAT, RFC 6598
        ("https://[fd12:3456::1]/", "address"),  # unique local
        ("https://[fe80::1]/", "address"),
        ("https://127.0.0.1/", "address"),
        ("https://[::1]/", "address"),
        ("https://[::ffff:127.0.0.1]/", "address"),  # IPv4-mapped loopback
        ("https://[::ffff:169.254.169.254]/", "address"),
        ("https://[64:ff9b::a9fe:a9fe]/", "address"),  # NAT64 of 169.254.169.254
        ("https://[2002:a9fe:a9fe::]/", "address"),  # 6to4 of 169.254.169.254
        ("https://0.0.0.0/", "address"),
        ("https://[::]/", "address"),
        ("https://224.0.0.1/", "address"),
        ("https://240.0.0.1/", "address"),  # reserved
        ("https://localhost/", "address"),
        ("https://api.localhost/", "address"),
    ],
)
def test_refused_in_production_naming_the_rule(url, rule):
    with pytest.raises(UrlRefused) as refused:
        PRODUCTION.check_url(url)
    assert refused.value.rule == rule, str(refused.value)


@pytest.mark.parametrize("url", ["https://example.com/.well-known/jwks.json",
                                 "https://93.184.215.14:8443/logout?x=1",
                                 "https://[2606:4700::1111]/"])  # fmt: skip
def test_public_https_urls_pass(url):
    target = PRODUCTION.check_url(url)
    assert target.scheme == "https" and target.host


def test_development_admits_this_machine_over_http_and_nothing_else_internal():
    assert DEVELOPMENT.check_url("http://127.0.0.1:8080/cb").port == 8080
    assert DEVELOPMENT.check_url("http://localhost/cb").host == "localhost"
    for url in ("http://10.0.0.1/", "http://example.com/", "https://169.254.169.254/"):
        with pytest.raises(UrlRefused):
            DEVELOPMENT.check_url(url)


def test_the_operator_allow_list_admits_networks_and_hosts():
    networks, hosts = parse_allow_list("10.20.0.0/16, 192.168.1.5 jwks.corp.internal")
    policy = OutboundPolicy(allowed_networks=networks, allowed_hosts=hosts)
    assert policy.check_url("https://10.20.3.4/jwks").literal == ipaddress.ip_address("10.20.3.4")
    assert policy.check_url("https://192.168.1.5/").port == 443
    assert policy.check_url("https://jwks.corp.internal/keys").host == "jwks.corp.internal"
    with pytest.raises(UrlRefused):
        policy.check_url("https://10.21.0.1/")
    # The allow-list admits addresses, not plain http outside development.
    with pytest.raises(UrlRefused) as refused:
        policy.check_url("http://10.20.3.4/")
    assert refused.value.rule == "scheme"


def test_a_bad_allow_list_entry_is_an_error():
    with pytest.raises(ValueError):
        parse_allow_list("10.0.0.0/8 not_a_host!")


def test_the_origin_never_shows_the_path_or_query():
    target = PRODUCTION.check_url("https://example.com/cb?token=secret")
    assert target.origin == "https://example.com:443" and target.path == "/cb?token=secret"
