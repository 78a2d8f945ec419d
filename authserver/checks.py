"""Start-up checks: production refuses settings that are only safe on a laptop."""

from __future__ import annotations

from urllib.parse import urlsplit

from authserver.config import ConfigError, Settings


def check_settings(settings: Settings) -> None:
    if not settings.is_production:
        return
    if settings.kek is None:
        raise ConfigError(
            "AUTHSERVER_KEK: required in production (the key file is for development)"
        )
    if urlsplit(settings.issuer).scheme != "https":
        raise ConfigError("AUTHSERVER_ISSUER: must be https in production")
