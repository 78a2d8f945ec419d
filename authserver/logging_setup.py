"""Logging: one line per event on stderr; libraries that would print secrets are held back.

Authlib logs issued tokens and client ids at DEBUG (``log.debug("Issue token %r ...")``), so
SQLAlchemy's engine logs statements with their parameters at INFO; so these loggers
never go below WARNING, whatever level the server runs at.
"""

from __future__ import annotations

import logging
import sys

from authserver.request_id import RequestIdFilter

_QUIET_LIBRARIES = ("authlib", "sqlalchemy.engine", "urllib3")
_configured = False


def configure_logging(level: str) -> None:
    global _configured
    root = logging.getLogger()
    numeric = getattr(logging, level.upper())
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
        root.addHandler(handler)
        _configured = True
    root.setLevel(numeric)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    # Security events are always written, whatever the level.
    logging.getLogger("authserver.audit").setLevel(logging.INFO)
