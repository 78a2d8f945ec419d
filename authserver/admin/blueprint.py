"""The admin UI's blueprint, on which every page module registers its routes."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
