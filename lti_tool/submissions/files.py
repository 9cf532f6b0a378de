"""Serving a stored artifact file: streamed from storage, Range-aware, never sniffed or run — or, from a backend
that gives presigned URLs (S3), a redirect to one, so the bytes never pass through the tool."""

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


def shows_in_a_frame(artifact) -> bool:
    """Whether a page may show the file in a frame of its own (a PDF viewer): only when the tool serves the bytes, as
    a bucket's presigned URL answers every such file as an attachment (see `send_artifact`)."""
    return not storage(artifact.storage_backend).hands_out_urls


def send_artifact(artifact, *, as_attachment: bool, filename: str | None = None):
    """`send_file` for a stream from storage, whose size we know (send_file only knows it for paths).

    `filename` is the name the browser is given (default: the educator's own, made safe at upload).
    From a bucket, only audio and video play inline (a player's `src`); everything else downloads as an attachment,
    PDFs and images included: shown inline from the bucket's origin they would run without the sandboxing CSP below.
    """
    kept_in = storage(artifact.storage_backend)
    content_type = artifact.content_type or "application/octet-stream"
    playable = content_type.startswith(("audio/", "video/"))
    url = kept_in.download_url(artifact.storage_key, file_name=filename or artifact.file_name,
                               content_type=content_type, inline=playable and not as_attachment)
    if url is not None:  # no body: the URL is in the Location header only; it expires, so nothing caches it
        return current_app.response_class(status=303, headers={"Location": url, "Cache-Control": "private, no-store"})
    response = current_app.response_class(
        wrap_file(request.environ, kept_in.open(artifact.storage_key)),
        mimetype=content_type,
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
