"""Many processes running `authserver keys rotate --if-due` at the same moment against one
database: exactly one new key per algorithm, never zero or two active keys."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from authserver.cli import cli
from authserver.platform.extensions import db
from tests.conftest import make_app
from tests.pg import postgres_url  # noqa: F401 (fixture)

PROCESSES = 6
AUTHSERVER = str(Path(sys.executable).parent / "authserver")


def _run_concurrently(env: dict) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen(
            [AUTHSERVER, "keys", "rotate", "--if-due", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    with contextlib.ExitStack() as stack:
        for proc in procs:
            stack.enter_context(proc)  # killed and its pipes closed however this ends
            stack.callback(proc.kill)
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _states(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT alg, state FROM signing_keys ORDER BY id")).all()
    engine.dispose()
    states: dict[str, list[str]] = {}
    for alg, state in rows:
        states.setdefault(alg, []).append(state)
    return {alg: sorted(s) for alg, s in states.items()}


def _shift(url: str, sql: str, seconds: int) -> None:
    engine = create_engine(url)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    with engine.begin() as conn:
        conn.execute(text(sql), {"past": past})
    engine.dispose()


def _check_concurrent_rotation(tmp_path, url: str) -> None:
    app = make_app(tmp_path, database_url=url)
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    result = runner.invoke(
        cli, ["keys", "schedule", "--rotate-every", "1h", "--publish-ahead", "10m"]
    )
    assert result.exit_code == 0, result.output
    env = {
        **os.environ,
        "AUTHSERVER_DATABASE_URL": url,
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
    }

    # The active keys are 55 minutes old: a successor is due to be published.
    _shift(url, "UPDATE signing_keys SET activated_at = :past", 55 * 60)
    for done in _run_concurrently(env):
        assert done.returncode == 0, done.stderr
    expected = {alg: ["active", "pending"] for alg in ("ES256", "RS256", "Ed25519")}
    assert _states(url) == expected

    # An hour later: the pending keys have been published long enough and are due.
    _shift(url, "UPDATE signing_keys SET activated_at = :past WHERE state = 'active'", 3600)
    _shift(
        url,
        "UPDATE signing_keys SET created_at = :past, planned_activation_at = :past"
        " WHERE state = 'pending'",
        601,
    )
    outputs = _run_concurrently(env)
    for done in outputs:
        assert done.returncode == 0, done.stderr
    assert _states(url) == {alg: ["active", "retired"] for alg in expected}
    # exactly one process did the work; the others found nothing due
    assert sum(1 for done in outputs if done.stdout.strip() != "[]") >= 1
    with app.app_context():
        db.engine.dispose()


@pytest.mark.sqlite
def test_concurrent_rotation_on_sqlite(tmp_path):
    _check_concurrent_rotation(tmp_path, f"sqlite:///{tmp_path / 'auth.db'}")


@pytest.mark.postgres
def test_concurrent_rotation_on_postgresql(tmp_path, postgres_url):  # noqa: F811
    _check_concurrent_rotation(tmp_path, postgres_url())
