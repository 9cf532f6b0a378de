"""The educator's submission page: three parts, drafts, submit."""

from flask import Blueprint

bp = Blueprint("submissions", __name__, url_prefix="/submission")
