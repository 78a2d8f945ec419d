"""Settings: read once from the environment, validated with errors that name the variable."""

from __future__ import annotations

import base64

import pytest

from authserver.checks import check_settings
from authserver.config import ConfigError, load_settings


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
    ],
)
def test_bad_values_fail_naming_the_variable(variable, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value})
    assert variable in str(raised.value)


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
            },
            "AUTHSERVER_ISSUER",
        ),
    ],
)
def test_production_refuses_development_settings(environ, variable):
    with pytest.raises(ConfigError, match=variable):
        check_settings(load_settings(environ))
