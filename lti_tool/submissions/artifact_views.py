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

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for

from lti_tool.core.errors import InvalidInput, NotAllowed, NotFound, error_page
from lti_tool.core.ids import parse_id
from lti_tool.core.models import utcnow
from lti_tool.core.responses import allow_framing_by
from lti_tool.core.storage import CHUNK_SIZE, StorageUnavailable, format_size, storage
from lti_tool.core.transactions import after_commit
from lti_tool.extensions import db
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, require_duty
from lti_tool.submissions import services
from lti_tool.submissions.file_links import read_file_link, reader_file_url
from lti_tool.submissions.files import send_artifact
from lti_tool.submissions.launch_scope import launch_artifact, launch_attempt
from lti_tool.submissions.models import Artifact, Attempt
from lti_tool.submissions.uploads import (
    Upload,
    UploadRefused,
    UploadTooLarge,
    check_declared_size,
    form_file_stream,
    largest_allowed,
    refusal_of,
    store_upload,
)
from lti_tool.submissions.views import TEXT_VALUES, refused_save_page

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
    attempt_id = parse_id(request.values.get("attempt_id"))
    if attempt_id is None:
        raise NotFound("That submission was not found.")
    return attempt_id


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
        if sent is not None and refusal_of(sent.stream) is not None:
            raise refusal_of(sent.stream)
        if sent is None or not sent.filename:
            raise UploadRefused("Choose a file to add.")
        upload = store_upload(sent.stream, sent.filename)
    key, backend = upload.stored.key, storage().name
    after_commit(_nothing, on_rollback=lambda: storage(backend).delete(key))
    return upload


def _nothing() -> None:
    return None


FILE_NOT_ADDED = "The file you chose was not added either: choose it again once your text is kept."
NOTHING_REMOVED = "Nothing was removed either: remove it again once your text is kept."


def _save_text_sent_along(attempt: Attempt, undone: str):
    """Save the text parts the page's main form sent with a change (posted without JavaScript by the Upload or a
    Remove button); None when saved or when none came along, else the page that hands the text back (stale, closed,
    too long), saying `undone`: the change was not made either."""
    if request.endpoint in RECEIVING_ENDPOINTS and _is_raw_upload():
        return None  # a script's upload: the body is the file, the page saved its text itself
    if not any(name in request.form for name in TEXT_VALUES):
        return None
    version = parse_id(request.form.get("version"))
    if version is None:
        version = -1  # a form without its version: refused as stale below, its text handed back
    try:
        services.save_draft(attempt, services.clean_changes(request.form), version)
    except (services.StaleSave, services.AttemptLocked, services.DeadlinePassed, InvalidInput) as error:
        return refused_save_page(attempt, error, undone=undone)
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
    """Add a file to the educator's own draft attempt (of the launch's activity only, see `launch_scope`).

    Without JavaScript the page's main form is what posts here: the text typed since the last save comes along and
    is saved first, so the reload that follows loses nothing."""
    attempt = launch_attempt(current_launch(), _attempt_id())
    if _is_raw_upload():
        _refuse_unless_open(attempt)  # before a byte of the file is read
    # A form's text first: a closed attempt (deadline passed, submitted in another tab) hands it back, not a 409.
    refused = _save_text_sent_along(attempt, FILE_NOT_ADDED)
    if refused is not None:
        return refused
    _refuse_unless_open(attempt)
    received = _receive_file()
    artifact = services.add_file_artifact(attempt, received.stored, received.file_name, received.content_type,
                                          _sent_title())
    artifact.storage_backend = storage().name
    return _answer(artifact, "artifact-added", 201)


@bp.post("/<int:artifact_id>/replace")
@require_duty(roles.EDUCATOR)
def replace(artifact_id: int):
    """A new file in the old one's place, with its caption unless a new one is given; the old file goes after commit."""
    old = launch_artifact(current_launch(), artifact_id)
    attempt = old.attempt
    _refuse_unless_open(attempt)
    received = _receive_file()
    old_backend = old.storage_backend
    old_key = services.replace_file_artifact(old, received.stored, received.file_name, received.content_type,
                                             _sent_title())
    old.storage_backend = storage().name
    if old_key:
        after_commit(lambda: storage(old_backend).delete(old_key))
    return _answer(old, "artifact-replaced", 200)


@bp.post("/<int:artifact_id>/remove")
@require_duty(roles.EDUCATOR)
def remove(artifact_id: int):
    """Remove a file or link from a draft; the stored file is deleted once the removal is committed.

    Without JavaScript the page's main form is what posts here: the text typed since the last save comes along and
    is saved first (version-checked), so the reload that follows loses nothing."""
    artifact = launch_artifact(current_launch(), artifact_id)
    attempt = artifact.attempt
    refused = _save_text_sent_along(attempt, NOTHING_REMOVED)
    if refused is not None:
        return refused
    backend = artifact.storage_backend
    key = services.remove_artifact(artifact)
    if key:
        after_commit(lambda: storage(backend).delete(key))
    if request.accept_mimetypes.best == "application/json":
        return jsonify(removed=artifact_id, version=attempt.version)
    return redirect(url_for("submissions.page", ltik=g.ltik, notice="artifact-removed"), code=303)


# -- a refused upload without JavaScript ------------------------------------------------------------------
@bp.errorhandler(UploadRefused)
@bp.errorhandler(StorageUnavailable)
def refused_upload(error: UploadRefused | StorageUnavailable):
    """A form's refused file (too large: 413; a type not allowed, or content not what its name says: 400; the file
    storage not reachable: 503) answers with a page of the tool that says what was wrong and leads back to the
    submission page, handing back the text the form sent along (saved by one button). A script's upload gets the
    usual JSON answer."""
    if _is_raw_upload():
        return error_page(error)
    db.session.rollback()
    values, launch, attempt, version = {}, None, None, None
    if "form" in request.__dict__:  # the form was read (a body refused before reading has no fields to give back)
        values = {name: request.form[name] for name in TEXT_VALUES if name in request.form}
        try:
            launch = current_launch()
            attempt = launch_attempt(launch, _attempt_id())
            version = parse_id(request.form.get("version"))
        except (NotAllowed, NotFound):
            attempt = None
        if version is None:
            attempt = None  # without the page's version the text cannot be saved safely: only handed back
    return render_template("submissions/upload_refused.html", error=error, values=values, attempt=attempt,
                           version=version, has_launch=launch is not None), error.status


@bp.errorhandler(NotAllowed)
def refused_form_launch(error: NotAllowed):
    """The main form posted by Upload or Remove after its launch expired (or by someone without the duty): the text
    that came along is handed back, as for the submission page's own forms. A script's upload gets the usual answer."""
    if "form" not in request.__dict__ or not (_is_form_upload() or _is_remove_with_text()):
        return error_page(error)
    db.session.rollback()
    values = {name: request.form[name] for name in TEXT_VALUES if name in request.form}
    return render_template("submissions/expired.html", message=error.message, hint=error.hint, values=values,
                           link={}), error.status


def _is_form_upload() -> bool:
    return request.endpoint == "artifacts.upload" and not _is_raw_upload()


def _is_remove_with_text() -> bool:
    """A Remove button of the main form (without JavaScript), not the script's own remove form."""
    return request.endpoint == "artifacts.remove" and any(name in request.form for name in TEXT_VALUES)


# -- serving a file ---------------------------------------------------------------------------------------
@files_bp.get("/<int:artifact_id>")
def read(artifact_id: int):
    """The file a page's link names, to the reader it was issued for, for a few minutes: read only (GET, HEAD)."""
    link = read_file_link(artifact_id, request.args.get("t", ""))
    # A PDF shown on a page sits in the tool's page inside the LMS that launched it: that LMS may frame it.
    registration = link.deployment.registration
    allow_framing_by(lambda: registration.frame_origins)
    return send_artifact(link.artifact, as_attachment=not link.inline, filename=link.file_name)
