"""The admin UI's blueprint, on which every page module registers its routes, and the filters
its templates share."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.app_template_filter("readable")
def readable(value: object) -> str:
    """An audit record's value as a person reads it: lists joined, yes or no, a dash for
    nothing (Python's reprs were shown: ``['mfa', 'otp', 'pwd']``, ``False``)."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(readable(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key} {readable(item)}" for key, item in value.items())
    return str(value)
