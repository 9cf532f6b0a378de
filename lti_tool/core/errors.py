"""Domain errors and the one place that turns every error into a response."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from lti_tool.extensions import db


class DomainError(Exception):
    """A rule of the domain was broken; `status` is the HTTP status the person sees."""

    status = 400
    title = "That could not be done"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidInput(DomainError):
    status = 400
    title = "Please check what was entered"


class NotAllowed(DomainError):
    status = 403
    title = "Not allowed"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    """An impossible state transition, a stale save, a duplicate."""

    status = 409
    title = "This changed in the meantime"


class Gone(DomainError):
    """Something that existed and was withdrawn for good (a revoked badge's downloads)."""

    status = 410
    title = "No longer available"


class TooManyRequests(DomainError):
    """A limit per person and hour (emails a form may send, say) was reached; trying later works."""

    status = 429
    title = "Please wait a little"


class LaunchError(DomainError):
    """A login or launch from the LMS failed; the person is sent back to the LMS with the reason."""

    status = 400
    title = "The launch from your LMS did not work"

    def __init__(self, message: str, *, hint: str | None = None, return_url: str | None = None, status: int = 400):
        super().__init__(message, hint=hint)
        self.return_url = return_url
        self.status = status


def return_url_with_message(return_url: str | None, message: str) -> str | None:
    """The LMS return URL with `lti_errormsg` (LTI 1.3 Core §6.1.2 launch_presentation.return_url).

    Whether a return URL becomes a link is decided in one place, `lti.return_urls.platform_link`; a `LaunchError`
    carries only what it allowed (`ToolMessageLaunch.trusted_return_url`), so nothing is judged again here."""
    if not return_url:
        return None
    parts = urlsplit(return_url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [("lti_errormsg", message)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _render(status: int, title: str, message: str, hint: str | None = None, back_url: str | None = None):
    if _wants_json():
        return jsonify(error=title, message=message, hint=hint), status
    template = "errors/launch.html" if back_url is not None else "errors/error.html"
    return render_template(template, status=status, title=title, message=message, hint=hint, back_url=back_url), status


def error_page(error: DomainError):
    """The central answer to a domain error (a page, or JSON for a client that asks for it), for a view or a
    blueprint's own handler that answers some cases of the error itself and leaves the others to the usual page."""
    db.session.rollback()
    return _render(error.status, error.title, error.message, error.hint)


def init_app(app: Flask) -> None:
    @app.errorhandler(LaunchError)
    def launch_error(error: LaunchError):
        db.session.rollback()
        app.logger.info("launch refused: %s", error.message)
        back = return_url_with_message(error.return_url, error.message) or ""
        return _render(error.status, error.title, error.message, error.hint, back)

    app.register_error_handler(DomainError, error_page)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        db.session.rollback()
        return _render(error.code or 500, error.name, error.description or "")

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        return _render(
            500, "Something went wrong", "The tool hit an unexpected error. Nothing was saved; please try again."
        )
