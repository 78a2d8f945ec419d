"""Durations as operators write them: ``600``, ``90s``, ``10m``, ``24h``, ``30d``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^(\d+)([smhd]?)$")


def parse_duration(text: str) -> int:
    """Seconds in ``text``; a bare number is seconds. Raises ValueError on anything else."""
    match = _PATTERN.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 600, 90s, 10m, 24h, 30d)")
    number, unit = match.groups()
    return int(number) * _UNITS[unit or "s"]
