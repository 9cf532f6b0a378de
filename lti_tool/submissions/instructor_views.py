"""The instructor's view of the course's progress."""

from flask import Blueprint

bp = Blueprint("progress", __name__, url_prefix="/progress")
