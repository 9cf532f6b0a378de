"""LTI endpoints: login, launch, JWKS, configuration, Dynamic Registration."""

from flask import Blueprint, jsonify

from lti_tool.lti.keys import key_store

bp = Blueprint("lti", __name__)


@bp.get("/lti/jwks")
@bp.get("/.well-known/jwks.json")
def jwks():
    """The tool's public keys: the body is the key set itself (`{"keys": [...]}`)."""
    response = jsonify(key_store().jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
