"""Uploading, replacing, removing and serving artifact files.

An upload arrives one of two ways, both at `POST /artifacts/upload`:

- a plain HTML form (multipart/form-data: `ltik`, `attempt_id`, `artifact_title`, the file input
  `artifact_file`), which works without JavaScript and redirects back to the submission page;
  the file part is spooled to a temporary file (memory stays flat) that refuses it (413) as soon as it
  passes the limit for its name, so a huge “.pdf” is not written out in full only to be refused;
- a script (`fetch`/XMLHttpRequest) sending the raw file as the body (`application/octet-stream`) with the
  headers `X-Launch-Token` and `X-File-Name` (URI-encoded) and the query `attempt_id` (and `title`),
  answered in JSON. The body streams straight into storage: this is the path for very large videos.

Only these endpoints accept bodies up to the video limit; every other form keeps MAX_CONTENT_LENGTH.
Stored files are read at `GET /files/<artifact id>?t=…` only, through the short-lived, read-only link a page
issued for one reader and one file (`file_links`; no launch reference in it), as downloads with `nosniff` and a
sandboxing CSP (`send_file`'s behaviour, for a stream of known size: Range requests answer 206).
"""

from __future__ import annotations

from urllib.parse import unquote

from flask import Blueprint, current_app, g, jsonify, redirect, request, url_for

from lti_tool.core.errors import NotFound
from lti_tool.core.models import utcnow
from lti_tool.core.responses import allow_framing_by
from lti_tool.core.storage import CHUNK_SIZE, format_size, storage
from lti_tool.core.transactions import after_commit
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, require_duty
from lti_tool.submissions import services
from lti_tool.submissions.file_links import read_file_link, reader_file_url
from lti_tool.submissions.files import send_artifact
from lti_tool.submissions.models import Artifact, Attempt
from lti_tool.submissions.uploads import (
    Upload,
    UploadRefused,
    UploadTooLarge,
    check_declared_size,
    form_file_stream,
    largest_allowed,
    store_upload,
)

bp = Blueprint("artifacts", __name__, url_prefix="/artifacts")
files_bp = Blueprint("files", __name__, url_prefix="/files")

RECEIVING_ENDPOINTS = frozenset({"artifacts.upload", "artifacts.replace"})
FORM_OVERHEAD = 1024 * 1024  # the other fields and multipart boundaries around the file
# A refused upload's unread body is read (and dropped) up to this much, so that a browser receives the
# answer instead of a reset connection; beyond it the connection is simply closed.
DRAIN_LIMIT = 64 * 1024 * 1024


def _is_raw_upload() -> bool:
    return request.method == "POST" and request.mimetype != "multipart/form-data"


@bp.before_request
def accept_large_bodies():
    """Raise the body limit for the upload endpoints only (Flask 3.1: per request, before the body is read)."""
    if request.endpoint not in RECEIVING_ENDPOINTS:
        return
    largest = largest_allowed()
    request.max_content_length = largest + FORM_OVERHEAD
    declared = request.content_length
    if _is_raw_upload():
        # A raw body comes from a script, never from a page: the central error handler answers it in JSON.
        request.environ["HTTP_ACCEPT"] = "application/json"
        if declared is not None:
            check_declared_size(unquote(request.headers.get("X-File-Name", "")), declared)
    else:
        if declared is not None and declared > request.max_content_length:
            raise UploadTooLarge(f"The file is larger than {format_size(largest)}, the largest file that can be "
                                 "added.", hint="Make the file smaller, or share it as a link.")
        # The body may reach the video limit, but each file part is held to the limit for its own name while
        # the form is parsed (Werkzeug's hook for the stream a file part is written to, for this request only).
        request._get_file_stream = form_file_stream


@bp.after_request
def finish_reading_refused_upload(response):
    if request.endpoint in RECEIVING_ENDPOINTS and response.status_code >= 400:
        _drain_body()
    return response


def _drain_body() -> None:
    length = request.content_length
    if length is not None and length > DRAIN_LIMIT:
        return
    drained = 0
    try:
        while drained <= DRAIN_LIMIT and (chunk := request.stream.read(CHUNK_SIZE)):
            drained += len(chunk)
    except Exception:  # noqa: BLE001  (a client that went away, a body over the limit: nothing to keep)
        current_app.logger.debug("could not drain a refused upload", exc_info=True)


# -- receiving a file -----------------------------------------------------------------------------------
def _attempt_id() -> int:
    try:
        return int(request.values.get("attempt_id", ""))
    except ValueError:
        raise NotFound("That submission was not found.") from None


def _refuse_unless_open(attempt: Attempt) -> None:
    """Say no before a byte is read when the attempt cannot change; the service checks again when recording."""
    if attempt.is_locked:
        raise services.AttemptLocked(f"Attempt {attempt.number} has been submitted and can no longer change.",
                                     hint="Your submitted work is shown on the submission page. Nothing was lost.")
    term = attempt.enrollment.term
    if term.is_past_deadline(utcnow()):
        raise services.DeadlinePassed(f"The final deadline for {term.title} has passed, so files can no longer "
                                      "be added.", hint="Your saved draft stays readable; nothing has been deleted.")


def _receive_file() -> Upload:
    """The sent file, checked and stored; it is deleted again unless the request's transaction commits."""
    if _is_raw_upload():
        upload = store_upload(request.stream, unquote(request.headers.get("X-File-Name", "")),
                              declared_size=request.content_length)
    else:
        sent = request.files.get("artifact_file")
        if sent is None or not sent.filename:
            raise UploadRefused("Choose a file to add.")
        upload = store_upload(sent.stream, sent.filename)
    key = upload.stored.key
    after_commit(_nothing, on_rollback=lambda: storage().delete(key))
    return upload


def _nothing() -> None:
    return None


def _sent_title() -> str | None:
    title = request.args.get("title") if _is_raw_upload() else request.form.get("artifact_title")
    return title if title and title.strip() else None


def _answer(artifact: Artifact, notice: str, status: int):
    """JSON for a script; a redirect back to the submission page for a form (303: see other, as a GET)."""
    if _is_raw_upload():
        return jsonify(
            id=artifact.id,
            file_name=artifact.file_name,
            size=artifact.size,
            content_type=artifact.content_type,
            sha256=artifact.sha256,
            version=artifact.attempt.version,  # the page's script keeps it, so its next save is not stale
            download_url=reader_file_url(current_launch(), artifact),
            play_url=reader_file_url(current_launch(), artifact, inline=True) if artifact.is_playable else None,
        ), status
    return redirect(url_for("submissions.page", ltik=g.ltik, notice=notice), code=303)


@bp.post("/upload")
@require_duty(roles.EDUCATOR)
def upload():
    """Add a file to the educator's own draft attempt."""
    attempt = services.get_own_attempt(current_launch().user_id, _attempt_id())
    _refuse_unless_open(attempt)
    received = _receive_file()
    artifact = services.add_file_artifact(attempt, received.stored, received.file_name, received.content_type,
                                          _sent_title())
    return _answer(artifact, "artifact-added", 201)


@bp.post("/<int:artifact_id>/replace")
@require_duty(roles.EDUCATOR)
def replace(artifact_id: int):
    """A new file in the old one's place, with its caption unless a new one is given; the old file goes after commit."""
    old = services.get_own_artifact(current_launch().user_id, artifact_id)
    attempt = old.attempt
    _refuse_unless_open(attempt)
    received = _receive_file()
    old_key = services.replace_file_artifact(old, received.stored, received.file_name, received.content_type,
                                             _sent_title())
    if old_key:
        after_commit(lambda: storage().delete(old_key))
    return _answer(old, "artifact-replaced", 200)


@bp.post("/<int:artifact_id>/remove")
@require_duty(roles.EDUCATOR)
def remove(artifact_id: int):
    """Remove a file or link from a draft; the stored file is deleted once the removal is committed."""
    artifact = services.get_own_artifact(current_launch().user_id, artifact_id)
    attempt = artifact.attempt
    key = services.remove_artifact(artifact)
    if key:
        after_commit(lambda: storage().delete(key))
    if request.accept_mimetypes.best == "application/json":
        return jsonify(removed=artifact_id, version=attempt.version)
    return redirect(url_for("submissions.page", ltik=g.ltik, notice="artifact-removed"), code=303)


# -- serving a file ---------------------------------------------------------------------------------------
@files_bp.get("/<int:artifact_id>")
def read(artifact_id: int):
    """The file a page's link names, to the reader it was issued for, for a few minutes: read only (GET, HEAD)."""
    link = read_file_link(artifact_id, request.args.get("t", ""))
    # A PDF shown on a page sits in the tool's page inside the LMS that launched it: that LMS may frame it.
    registration = link.deployment.registration
    allow_framing_by(lambda: registration.frame_origins)
    return send_artifact(link.artifact, as_attachment=not link.inline, filename=link.file_name)
