"""Health checks for load balancers and the benchmark's baseline."""

from flask import Blueprint, jsonify
from sqlalchemy import text

from lti_tool.extensions import cache, db

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers (touches nothing else)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: the database and the cache answer."""
    db.session.execute(text("SELECT 1"))
    cache.set("readyz", "1", timeout=10)
    if cache.get("readyz") != "1":
        return jsonify(status="cache unavailable"), 503
    return jsonify(status="ok")
