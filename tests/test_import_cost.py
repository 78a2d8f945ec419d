"""What every process pays before it does anything: importing the app and the CLI. Each CLI
call and each served worker starts by it, so the heavy parts wait until they are needed."""

from __future__ import annotations

import subprocess
import sys

LAZY = ("webauthn", "pyasn1")  # only the passkey ceremonies need them


def test_importing_the_app_and_the_cli_leaves_the_passkey_library_for_later():
    probe = (
        "import sys, authserver.app, authserver.cli, authserver.wsgi\n"
        f"print(' '.join(m for m in {LAZY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, check=True).stdout.split()  # fmt: skip
    assert loaded == []
