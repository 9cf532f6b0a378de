"""Catalog views."""

from flask import Blueprint

bp = Blueprint("catalog", __name__, url_prefix="/catalog")
