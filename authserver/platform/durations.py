"""Durations as operators write them: ``600``, ``90s``, ``10m``, ``24h``, ``30d``, ``11m 1s``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BARE = re.compile(r"^[0-9]{1,12}$")  # ASCII digits (\d would take "٣" too)
_COMPOUND = re.compile(r"^(?:[0-9]{1,12}[smhd] ?){1,4}$")
_PART = re.compile(r"([0-9]+)([smhd])")


def parse_duration(text: str) -> int:
    """Seconds in ``text``: a bare number is seconds, else parts such as ``1d 2h`` or ``11m1s``
    (what ``format_duration`` writes). Raises ValueError on anything else."""
    text = text.strip()
    if _BARE.match(text):
        return int(text)
    if not _COMPOUND.match(text):
        raise ValueError(f"not a duration: {text!r} (use e.g. 600, 90s, 10m, 24h, 30d)")
    return sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(text))


def format_duration(seconds: int) -> str:
    """``seconds`` as a person writes it, exactly: ``30d``, ``11m``, ``11m 1s`` (never
    ``661s``); ``parse_duration`` reads it back."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)
