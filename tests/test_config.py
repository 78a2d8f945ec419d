"""Settings: read once from the environment, validated with errors that name the variable."""

from __future__ import annotations

import base64

import pytest

from authserver.platform.checks import check_settings
from authserver.platform.config import ConfigError, load_settings


def test_defaults():
    settings = load_settings({})
    assert settings.issuer == "http://localhost:5000"
    assert settings.database_url.startswith("sqlite:///") and "instance" in settings.database_url
    assert settings.env == "development"
    assert settings.access_token_ttl_seconds == 600
    assert settings.access_token_alg == "ES256"


def test_environment_variables_are_read_and_durations_parsed():
    kek = base64.b64encode(b"k" * 32).decode()
    settings = load_settings(
        {
            "AUTHSERVER_ISSUER": "https://id.example.com",
            "AUTHSERVER_DATABASE_URL": "postgresql+psycopg://u@db/auth",
            "AUTHSERVER_KEK": kek,
            "AUTHSERVER_ACCESS_TOKEN_TTL": "5m",
            "AUTHSERVER_ENV": "production",
        }
    )
    assert settings.issuer == "https://id.example.com"
    assert settings.access_token_ttl_seconds == 300
    assert settings.is_production
    check_settings(settings)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("AUTHSERVER_ISSUER", "not a url"),
        ("AUTHSERVER_ISSUER", "https://id.example.com/?x=1"),
        ("AUTHSERVER_ENV", "staging"),
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "ten minutes"),
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "0"),
        ("AUTHSERVER_KEK", "short"),
        ("AUTHSERVER_KEK", base64.b64encode(b"x" * 16).decode()),
        ("AUTHSERVER_DATABASE_URL", "mysql://x"),
        ("AUTHSERVER_ACCESS_TOKEN_ALG", "HS256"),
        ("AUTHSERVER_MAX_BODY_BYTES", "lots"),
        ("AUTHSERVER_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("AUTHSERVER_WEBHOOK_MAX_ATTEMPTS", "51"),
        ("AUTHSERVER_WEBHOOK_RETRY_BASE", "0"),
        ("AUTHSERVER_WEBHOOK_POLL_INTERVAL", "soon"),
        ("AUTHSERVER_WEBHOOK_TIMEOUT", "0"),
        ("AUTHSERVER_WEBHOOK_LOG_RETENTION", "0"),
    ],
)
def test_bad_values_fail_naming_the_variable(variable, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value})
    assert variable in str(raised.value)


def test_webhook_settings_are_read_with_their_units():
    settings = load_settings({"AUTHSERVER_WEBHOOK_MAX_ATTEMPTS": "3",
                              "AUTHSERVER_WEBHOOK_RETRY_BASE": "2m",
                              "AUTHSERVER_WEBHOOK_POLL_INTERVAL": "1",
                              "AUTHSERVER_WEBHOOK_TIMEOUT": "20s",
                              "AUTHSERVER_WEBHOOK_LOG_RETENTION": "7d"})  # fmt: skip
    assert (settings.webhook_max_attempts, settings.webhook_retry_base_seconds,
            settings.webhook_poll_seconds, settings.webhook_timeout_seconds,
            settings.webhook_log_retention_seconds) == (3, 120, 1, 20, 7 * 86400)  # fmt: skip
    defaults = load_settings({})
    assert (defaults.webhook_max_attempts, defaults.webhook_retry_base_seconds) == (10, 30)


def test_unknown_override_fails_fast():
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({}, {"acess_token_ttl_seconds": 5})


@pytest.mark.parametrize(
    "environ, variable",
    [
        ({"AUTHSERVER_ENV": "production", "AUTHSERVER_ISSUER": "https://id.example.com"}, "KEK"),
        (
            {
                "AUTHSERVER_ENV": "production",
                "AUTHSERVER_KEK": base64.b64encode(b"k" * 32).decode(),
                "AUTHSERVER_ISSUER": "http://id.example.com",
            },
            "AUTHSERVER_ISSUER",
        ),
    ],
)
def test_production_refuses_development_settings(environ, variable):
    with pytest.raises(ConfigError, match=variable):
        check_settings(load_settings(environ))


KEK = base64.b64encode(b"k" * 32).decode()
PRODUCTION = {
    "AUTHSERVER_ENV": "production",
    "AUTHSERVER_ISSUER": "https://id.example.com",
    "AUTHSERVER_KEK": KEK,
    "AUTHSERVER_DATABASE_URL": "postgresql+psycopg://u@db/auth",
}


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        check_settings(load_settings({"AUTHSERVER_ENV": "production", "AUTHSERVER_ISSUER":
                                      "http://id.example.com"}))  # fmt: skip
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("AUTHSERVER_ISSUER") and lines[1].startswith("AUTHSERVER_KEK")


def test_localhost_may_be_http_and_sqlite_only_serves_one_process():
    local = load_settings({**PRODUCTION, "AUTHSERVER_ISSUER": "http://localhost:5000",
                           "AUTHSERVER_DATABASE_URL": "sqlite:////tmp/x.db"})  # fmt: skip
    check_settings(local, workers=1)
    with pytest.raises(ConfigError, match="AUTHSERVER_DATABASE_URL"):
        check_settings(local, workers=2)


def _authserver(*args, env):
    import os
    import subprocess

    from tests.server_process import AUTHSERVER

    return subprocess.run(
        [AUTHSERVER, *args], env={**os.environ, **env}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_serve_refuses_sqlite_with_several_workers_in_production(tmp_path):
    env = {**PRODUCTION, "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
           "AUTHSERVER_METRICS_DIR": str(tmp_path / "m")}  # fmt: skip
    done = _authserver("serve", "--workers", "2", "--port", "1", env=env)
    assert done.returncode == 2
    assert "AUTHSERVER_DATABASE_URL" in done.stderr and "Traceback" not in done.stderr


def test_doctor_lists_the_checks(tmp_path):
    good = _authserver("doctor", env=PRODUCTION)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count("ok     ") == 4 and "0 problem(s)" in good.stdout
    env = {"AUTHSERVER_ENV": "development", "AUTHSERVER_KEK": "",
           "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
           "AUTHSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}  # fmt: skip
    bad = _authserver("doctor", env=env)
    assert bad.returncode == 1
    assert "PROBLEM  KEK from the environment" in bad.stdout
    assert "PROBLEM  database shared safely" in bad.stdout


def test_production_refuses_debug_mode():
    check_settings(load_settings(PRODUCTION))  # the clean production settings pass
    with pytest.raises(ConfigError, match="^FLASK_DEBUG: must be off in production"):
        check_settings(load_settings({**PRODUCTION, "FLASK_DEBUG": "1"}))


def test_where_the_hosts_budgets_are_counted():
    from pathlib import Path

    from authserver.platform.config import INSTANCE_DIR

    sqlite = load_settings({"AUTHSERVER_DATABASE_URL": "sqlite:////srv/auth/auth.db"})
    assert sqlite.rate_limit_path == Path("/srv/auth/auth.db.budgets")
    pg = load_settings({"AUTHSERVER_DATABASE_URL": "postgresql+psycopg://u@db/auth"})
    assert pg.rate_limit_path.parent == INSTANCE_DIR
    assert pg.rate_limit_path.name.startswith("budgets-") and "auth" not in pg.rate_limit_path.name
    chosen = load_settings({"AUTHSERVER_RATE_LIMIT_FILE": "/run/authserver/budgets"})
    assert chosen.rate_limit_path == Path("/run/authserver/budgets")
    # memory:// (the old default) means the host's counters too; only Redis is shared further.
    assert not load_settings({"AUTHSERVER_RATE_LIMIT_STORAGE": "memory://"}).uses_redis
    assert load_settings({"AUTHSERVER_READYZ_REQUIRES_REDIS": "true"}).readyz_requires_redis


def test_the_redis_address_has_its_own_setting_and_the_older_spelling_still_works():
    new = load_settings({"AUTHSERVER_REDIS_URL": "redis://cache:6379/0"})
    assert new.uses_redis and new.redis_url == "redis://cache:6379/0"
    older = load_settings({"AUTHSERVER_RATE_LIMIT_STORAGE": "redis://cache:6379/0"})
    assert older.redis_url == "redis://cache:6379/0"
    both = {"AUTHSERVER_REDIS_URL": "redis://a/0", "AUTHSERVER_RATE_LIMIT_STORAGE": "redis://a/0"}
    assert load_settings(both).redis_url == "redis://a/0"
    with pytest.raises(ConfigError, match="^AUTHSERVER_REDIS_URL: names another Redis"):
        load_settings({**both, "AUTHSERVER_RATE_LIMIT_STORAGE": "redis://b/0"})
    with pytest.raises(ConfigError, match="^AUTHSERVER_REDIS_URL: a redis:// or rediss:// URL"):
        load_settings({"AUTHSERVER_REDIS_URL": "http://cache:6379"})
    assert load_settings({}).redis_url is None


def test_a_misspelt_variable_is_named_with_the_setting_it_most_likely_meant():
    from authserver.platform.config import unknown_variables

    found = unknown_variables({"AUTHSERVER_REDIS_ULR": "redis://x", "AUTHSERVER_ISSUER": "x",
                               "AUTHSERVER_TEST_BACKEND": "postgresql", "AUTHSERVER_ZZZ": "1",
                               "OTHER": "1"})  # fmt: skip
    assert found == [
        "AUTHSERVER_REDIS_ULR is not a setting (did you mean AUTHSERVER_REDIS_URL?)",
        "AUTHSERVER_ZZZ is not a setting",
    ]
