"""Every request the server sends goes through ``authserver.outbound``: no other module of the
server imports an HTTP client or opens sockets itself. (The verifier, ``authserver_verify``, is a
resource server's library in its own distribution, not the server: it fetches its issuer's JWKS
and asks its introspection endpoint. Redis and the database are reached through their own
clients.)"""

from __future__ import annotations

import ast
from pathlib import Path

import authserver

PACKAGE = Path(authserver.__file__).parent
#: Modules that may talk HTTP or sockets, and why.
ALLOWED = {
    "outbound/client.py": "the one door",
    "outbound/mail.py": "the one mail door: the operator's SMTP relay (AUTHSERVER_SMTP_URL)",
    "serving.py": "binds the listening socket `serve` accepts on; it never connects",
}
NETWORK_MODULES = ("urllib.request", "http.client", "socket", "ssl", "requests", "httpx",
                   "urllib3", "aiohttp", "smtplib", "ftplib")  # fmt: skip


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_every_exception_names_a_module_that_exists():
    assert [name for name in ALLOWED if not (PACKAGE / name).is_file()] == []


def test_no_module_but_outbound_opens_connections():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in ALLOWED:
            continue
        imported = _imports(ast.parse(path.read_text(encoding="utf-8")))
        hits = sorted(
            name for name in imported
            if any(name == m or name.startswith(m + ".") for m in NETWORK_MODULES)
        )  # fmt: skip
        if hits:
            offenders[relative] = hits
    assert offenders == {}, f"outbound calls outside authserver/outbound: {offenders}"


def test_the_listener_never_connects():
    tree = ast.parse((PACKAGE / "serving.py").read_text(encoding="utf-8"))
    called = {
        node.func.attr for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }  # fmt: skip
    assert not called & {"connect", "connect_ex", "create_connection", "sendto"}


def test_the_check_sees_what_it_looks_for(tmp_path):
    # The scan must be able to fail: it finds each way of importing a client.
    source = "import urllib.request\nfrom http import client\nimport socket as s\n"
    assert {"urllib.request", "http.client", "socket"} <= _imports(ast.parse(source))
