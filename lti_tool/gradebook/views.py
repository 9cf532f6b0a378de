"""Admin view of the outbox: what is waiting for the LMS and what failed."""

from flask import Blueprint

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")
