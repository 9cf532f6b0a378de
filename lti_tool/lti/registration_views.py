"""LTI Dynamic Registration 1.0 (/lti/register) and the manual-registration page (/lti/config)."""

from flask import Blueprint

bp = Blueprint("registration", __name__)
