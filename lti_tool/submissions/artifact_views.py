"""Uploading and downloading artifact files."""

from flask import Blueprint

bp = Blueprint("artifacts", __name__, url_prefix="/artifacts")
