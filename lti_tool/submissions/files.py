"""Serving a stored artifact file: streamed from storage, Range-aware, never sniffed or run."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.wsgi import wrap_file

from lti_tool.core.responses import frame_ancestors
from lti_tool.core.storage import storage

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


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
    response.headers.update(FILE_HEADERS)
    if artifact.content_type == "application/pdf" and not as_attachment:
        # Chromium's PDF viewer does not run in a sandboxed document: a PDF shown on a page gets no `sandbox`
        # (still no scripts, styles or connections of its own) and may be framed by the tool's page, which sits
        # inside the LMS's (frame-ancestors is checked against every frame above it).
        response.headers["Content-Security-Policy"] = f"default-src 'none'; {frame_ancestors()}"
    # Range requests (206), so that a <video> element can seek.
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=artifact.size)
