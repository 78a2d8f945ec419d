"""AUTHSERVER_LOG_FORMAT: JSON lines for a collector, the console format for a person, and
auto choosing by whether stderr is a terminal (a real pseudo-terminal here)."""

from __future__ import annotations

import json
import os
import pty
import subprocess

import pytest

from tests.server_process import AUTHSERVER, ServerProcess

# `init` logs: migrations and the audit records of the keys it creates.
AUDIT_EVENT = "key:signing:created"


def _stderr_of_init(tmp_path, log_format: str | None, *, terminal: bool) -> str:
    env = ServerProcess(tmp_path).env
    env.pop("AUTHSERVER_LOG_FORMAT", None)
    if log_format is not None:
        env["AUTHSERVER_LOG_FORMAT"] = log_format
    if not terminal:
        done = subprocess.run([AUTHSERVER, "init"], env=env, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stderr
    controller, terminal_end = pty.openpty()
    with subprocess.Popen([AUTHSERVER, "init"], env=env, stdout=subprocess.DEVNULL,
                          stderr=terminal_end) as proc:  # fmt: skip
        os.close(terminal_end)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0
    os.close(controller)
    return b"".join(chunks).decode()


def _log_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if AUDIT_EVENT in line]


def test_json_lines_when_stderr_is_not_a_terminal(tmp_path):
    lines = _log_lines(_stderr_of_init(tmp_path, None, terminal=False))
    assert len(lines) == 3  # one per algorithm
    for line in lines:
        entry = json.loads(line)
        assert entry["event"] == AUDIT_EVENT and entry["logger"] == "authserver.audit"


@pytest.mark.parametrize("setting", [None, "console"])
def test_the_console_format_at_a_terminal_or_when_asked(tmp_path, setting):
    stderr = _stderr_of_init(tmp_path, setting, terminal=setting is None)
    lines = _log_lines(stderr)
    assert len(lines) == 3
    for line in lines:
        assert not line.lstrip().startswith("{")
        assert "info" in line and "authserver.audit" in line
    if setting == "console":  # not a terminal: no colour codes in a redirected file
        assert "\x1b[" not in stderr


def test_json_at_a_terminal_when_asked(tmp_path):
    lines = _log_lines(_stderr_of_init(tmp_path, "json", terminal=True))
    assert len(lines) == 3 and all(json.loads(line)["event"] == AUDIT_EVENT for line in lines)


def test_an_unknown_format_is_refused_naming_the_variable(tmp_path):
    env = {**ServerProcess(tmp_path).env, "AUTHSERVER_LOG_FORMAT": "xml"}
    done = subprocess.run([AUTHSERVER, "init"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "AUTHSERVER_LOG_FORMAT" in done.stderr and "Traceback" not in done.stderr


def test_a_traceback_in_the_console_format_shows_no_local_variables():
    """structlog's console renderer prints each frame's locals with rich, when rich is
    installed (it is, through the dev tools): a secret in a local must not reach the log."""
    import logging

    from authserver.platform.logging_setup import console_formatter

    def authenticate(client_secret: str) -> None:
        raise RuntimeError("boom")

    secret = "s3cr3t-" + "client-secret-value"  # made at run time: not in any source line
    try:
        authenticate(secret)
    except RuntimeError:
        import sys

        record = logging.LogRecord("authserver.web.errors", logging.ERROR, __file__, 1,
                                   "unexpected error", (), sys.exc_info())  # fmt: skip
    shown = console_formatter().format(record)
    assert "RuntimeError: boom" in shown and "authenticate" in shown
    assert "s3cr3t-client-secret-value" not in shown


def test_the_console_access_line_escapes_the_path():
    import logging

    from authserver.platform.logging_setup import ConsoleAccessLineFormatter

    record = logging.LogRecord("authserver.access", logging.INFO, __file__, 0, "%s %s %s",
                               ("GET", "/x", 404), None)  # fmt: skip
    path = "/x\n09:00:00 POST /admin 201 1ms 203.0.113.9 [abc]\x1b[2J"
    record.method, record.path, record.status = "GET", path, 404
    record.duration_ms, record.client, record.request_id = 1.0, "127.0.0.1", "r1"
    line = ConsoleAccessLineFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line
    assert line.endswith("404 1.0ms 127.0.0.1 [r1]") and "\\n09:00:00" in line


def test_settings_never_show_the_kek_or_a_database_password_in_their_repr():
    from authserver.platform.config import load_settings

    settings = load_settings({"AUTHSERVER_KEK": "dOySLm/b7P2c8DD0JnbkdZ57ij42vcqJi9QgVyA/NEw=",
                              "AUTHSERVER_DATABASE_URL": "postgresql+psycopg://u:pw1@db/a",
                              "AUTHSERVER_REDIS_URL": "redis://:pw2@cache/0"})  # fmt: skip
    shown = repr(settings)
    assert "dOySLm" not in shown and "pw1" not in shown and "pw2" not in shown
