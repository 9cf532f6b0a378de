"""Health checks for load balancers and the benchmark's baseline."""

from flask import Blueprint, current_app, jsonify

from lti_tool.core import readiness

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers (touches nothing else)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: the database and the cache answer, the schema is at head and a signing key loads (else 503)."""
    problems = readiness.problems()
    readiness.report(current_app._get_current_object(), problems)
    if problems:
        return jsonify(status="not ready", problems=[problem.reason for problem in problems]), 503
    return jsonify(status="ok")
