"""Schedules: validated against the JWKS max-age and token lifetimes; nothing saved on error."""

from __future__ import annotations

import json

import pytest

from authserver.ops.scheduler import Scheduler
from authserver.platform import clock
from authserver.platform.runtime import current_runtime


def schedule(runner, *args):
    return runner("keys", "schedule", *args)


def test_defaults(runner):
    value = json.loads(schedule(runner, "--json").stdout)
    assert [v["alg"] for v in value] == ["ES256", "RS256", "Ed25519"]
    for v in value:
        assert v["rotate_every_seconds"] == 30 * 86400
        assert v["publish_ahead_seconds"] == 86400
        # longest token lifetime (600) + skew (60) + key-ring refresh (1)
        assert v["retire_after_seconds"] == 661


def test_set_for_one_algorithm_with_duration_suffixes(runner):
    result = schedule(runner, "--alg", "RS256", "--rotate-every", "7d", "--publish-ahead", "2h")
    assert result.exit_code == 0, result.output
    value = {v["alg"]: v for v in json.loads(schedule(runner, "--json").stdout)}
    assert value["RS256"]["rotate_every_seconds"] == 7 * 86400
    assert value["RS256"]["publish_ahead_seconds"] == 7200
    assert value["ES256"]["rotate_every_seconds"] == 30 * 86400


@pytest.mark.parametrize(
    "args, field",
    [
        (["--retire-after", "10m"], "retire_after"),  # < 600 s token lifetime + skew
        (["--publish-ahead", "1s"], "publish_ahead"),  # < max-age + refresh
        (["--rotate-every", "1h", "--publish-ahead", "2h"], "rotate_every"),
        (["--rotate-every", "0s"], "rotate_every"),
    ],
)
def test_unsafe_schedules_are_refused_and_nothing_is_saved(runner, args, field):
    before = schedule(runner, "--json").stdout
    result = schedule(runner, *args)
    assert result.exit_code == 1
    assert field in result.output
    assert schedule(runner, "--json").stdout == before


def test_bad_duration_is_a_usage_error(runner):
    result = schedule(runner, "--rotate-every", "soon")
    assert result.exit_code == 2
    assert "not a duration" in result.output


def test_publish_ahead_below_a_fixed_jwks_max_age_is_refused(tmp_path):
    from authserver.cli import cli
    from tests.conftest import init_app, make_app

    app = make_app(tmp_path, jwks_max_age_seconds=3600)
    init_app(app)
    result = app.test_cli_runner().invoke(cli, ["keys", "schedule", "--publish-ahead", "30m"])
    assert result.exit_code == 1
    assert "JWKS max-age (3600s)" in result.output


def test_jwks_max_age_is_derived_from_the_schedule(http, runner):
    assert http.get("/.well-known/jwks.json").headers["Cache-Control"] == "public, max-age=300"
    schedule(runner, "--publish-ahead", "60s", "--rotate-every", "1h")
    current_runtime().keyring.invalidate()
    # (60 s publish-ahead − 1 s refresh) / 2
    assert http.get("/.well-known/jwks.json").headers["Cache-Control"] == "public, max-age=29"


def test_the_in_server_scheduler_performs_due_transitions(app, runner):
    schedule(runner, "--rotate-every", "100s", "--publish-ahead", "20s", "--retire-after", "700s")
    scheduler = Scheduler(app)
    clock.freeze()
    assert scheduler.run_once() == 0
    clock.advance(81)
    assert scheduler.run_once() == 3  # a pending key for each algorithm
    assert scheduler.run_once() == 0
