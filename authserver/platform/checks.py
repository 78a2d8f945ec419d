"""Start-up checks: production refuses settings that are only safe on a laptop.

Each problem is one line naming the setting to change. ``create_app`` refuses to start in
production when there is any; ``authserver doctor`` prints every check, in any environment,
and also the modes of the files that hold secrets (``mode_checks``), which it only reports.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import urlsplit

from authserver.platform.config import ConfigError, Settings
from authserver.platform.private_files import loose_mode

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    problem: str  # what to change, when not ok


def production_checks(settings: Settings, workers: int = 1) -> list[Check]:
    issuer = urlsplit(settings.issuer)
    is_sqlite = settings.database_url.startswith("sqlite")
    return [
        Check(
            "issuer is https",
            issuer.scheme == "https" or issuer.hostname in _LOCAL_HOSTS,
            "AUTHSERVER_ISSUER: must be https in production (localhost excepted)",
        ),
        Check(
            "KEK from the environment",
            settings.kek is not None,
            "AUTHSERVER_KEK: required in production (the key file is for development)",
        ),
        Check(
            "debug mode off",
            not settings.flask_debug,
            "FLASK_DEBUG: must be off in production (the debugger runs code and shows secrets)",
        ),
        Check(
            "database shared safely",
            not (is_sqlite and workers > 1),
            "AUTHSERVER_DATABASE_URL: SQLite serves one process; use PostgreSQL for "
            "more than one worker or host (or serve --workers 1)",
        ),
    ]


def mode_checks(paths: list[tuple[str, Path, int]]) -> list[Check]:
    """One check per private file or folder that exists (``authserver.platform.private_files``): no
    other local user may read it (or, for a folder, add files to it)."""
    checks = []
    for what, path, allowed in paths:
        if not path.exists():
            continue
        mode = loose_mode(path, allowed)
        checks.append(Check(
            f"{what} private ({path})", mode is None,
            f"{path} is mode {mode or 0:04o}, open to other local users: chmod {allowed:o} {path}",
        ))  # fmt: skip
    return checks


def problems(settings: Settings, workers: int = 1) -> list[str]:
    return [c.problem for c in production_checks(settings, workers) if not c.ok]


def check_settings(settings: Settings, workers: int = 1) -> None:
    """Raise ConfigError listing every problem, in production only."""
    if not settings.is_production:
        return
    found = problems(settings, workers)
    if found:
        raise ConfigError("\n".join(found))
