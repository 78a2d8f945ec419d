"""The files and folders that hold what other local users must not read, and their modes.

The SQLite database holds password hashes (argon2), emails and the audit trail; ``keys/`` holds
the development KEK. Files are created 0600 and folders 0700 whatever the umask. SQLite makes
the database's ``-wal`` and ``-shm`` files later, in whichever process (``init``, one of
``serve``'s workers) first needs them, and gives each the database file's own mode (its unix
VFS copies it, ignoring the umask): a database file created 0600 keeps its companions 0600, so
the database file is created here, empty, before SQLite ever opens it. Folders and files that
exist already are left as they are; ``authserver doctor`` names any that is looser
(``database_paths`` here, ``FileKekSource.private_paths`` for the keys).
"""

from __future__ import annotations

import os
from pathlib import Path

from authserver.platform.config import Settings

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dir(path: Path) -> None:
    """Create ``path`` and every missing parent 0700; existing folders are left alone."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process (a serve worker) made it first
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode went through the umask


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 unless ``path`` exists (never through a symlink)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may have taken bits away
    finally:
        os.close(fd)


def tighten_dir(path: Path) -> None:
    """Make an existing folder 0700 when it is looser and ours to change."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, PRIVATE_DIR)
    except PermissionError:
        pass  # someone else's folder: `authserver doctor` reports it


def database_paths(settings: Settings) -> list[tuple[str, Path, int]]:
    """(what, path, the widest mode it may have) for the SQLite database, its -wal and -shm
    files and its folder (``instance/`` by default), where the database is a SQLite file."""
    database = settings.sqlite_file
    if database is None:
        return []
    companions = (("file", ""), ("WAL", "-wal"), ("shared memory", "-shm"))
    files = [(f"database {what}", database.with_name(database.name + suffix), PRIVATE_FILE)
             for what, suffix in companions]  # fmt: skip
    return [("database folder", database.parent, PRIVATE_DIR), *files]


def loose_mode(path: Path, allowed: int) -> int | None:
    """The mode of ``path`` when it grants more than ``allowed``; None if not, or if absent."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None
    return mode if mode & ~allowed else None
