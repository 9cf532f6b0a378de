"""The demo LMS (development only)."""

from flask import Blueprint

bp = Blueprint("demo", __name__, url_prefix="/demo")
