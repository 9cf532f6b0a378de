"""Serving a stored artifact file: streamed from storage, Range-aware, never sniffed or run."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.wsgi import wrap_file

from lti_tool.core.storage import storage

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}
# Chromium's PDF viewer does not run in a sandboxed document: PDFs shown on a page get a CSP without `sandbox`
# (still no scripts, styles or connections of their own), and may be framed only by the tool's own pages.
PDF_HEADERS = {**FILE_HEADERS, "Content-Security-Policy": "default-src 'none'; frame-ancestors 'self'"}


def send_artifact(artifact, *, as_attachment: bool, filename: str | None = None):
    """`send_file` for a stream from storage, whose size we know (send_file only knows it for paths).

    `filename` is the name the browser is given (default: the educator's own, made safe at upload).
    """
    response = current_app.response_class(
        wrap_file(request.environ, storage().open(artifact.storage_key)),
        mimetype=artifact.content_type or "application/octet-stream",
        direct_passthrough=True,
    )
    response.content_length = artifact.size
    response.headers.set("Content-Disposition", "attachment" if as_attachment else "inline",
                         filename=filename or artifact.file_name)
    if artifact.sha256:
        response.set_etag(artifact.sha256)
    is_pdf = artifact.content_type == "application/pdf" and not as_attachment
    response.headers.update(PDF_HEADERS if is_pdf else FILE_HEADERS)
    # Range requests (206), so that a <video> element can seek.
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=artifact.size)
