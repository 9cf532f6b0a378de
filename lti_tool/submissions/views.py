"""The educator's submission page: three parts, drafts that save themselves, submit with confirmation.

Nothing the person typed is ever dropped: a refused save (another tab, an expired launch, the deadline)
answers with a page — or, for autosave, JSON — that hands their text back to them.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from werkzeug.routing import BuildError

from lti_tool.catalog.binding import microcredential_of
from lti_tool.catalog.parts import PART_TITLES, PARTS
from lti_tool.catalog.services import current_term
from lti_tool.core.dates import local_datetime_label, zone_of
from lti_tool.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from lti_tool.core.ids import parse_id
from lti_tool.core.models import utcnow
from lti_tool.core.storage import format_size
from lti_tool.extensions import db
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch
from lti_tool.submissions import services
from lti_tool.submissions.enrollments import enrollment_to_show
from lti_tool.submissions.file_links import reader_file_url
from lti_tool.submissions.launch_scope import launch_attempt
from lti_tool.submissions.models import Attempt, Enrollment, MarkingStatus, SubmissionStatus
from lti_tool.submissions.services import (
    MISSING_LABELS,
    AttemptLocked,
    DeadlinePassed,
    EnrollmentClosed,
    IncompleteSubmission,
    MicroCredentialFull,
    StaleSave,
)
from lti_tool.submissions.signals import submission_page_viewed
from lti_tool.submissions.uploads import ALLOWED_EXTENSIONS

bp = Blueprint("submissions", __name__, url_prefix="/submission")

STATUS_LABELS = {
    SubmissionStatus.NEW: "No submission yet",
    SubmissionStatus.DRAFT: "Draft (not submitted)",
    SubmissionStatus.SUBMITTED: "Submitted for assessment",
    SubmissionStatus.REOPENED: "Reopened for a new attempt",
}
MARKING_LABELS = {
    MarkingStatus.NOT_MARKED: "Not graded",
    MarkingStatus.IN_MARKING: "Being assessed",
    MarkingStatus.READY_FOR_REVIEW: "Being assessed",
    MarkingStatus.IN_REVIEW: "Being assessed",
    MarkingStatus.READY_FOR_RELEASE: "Being assessed",
    MarkingStatus.RELEASED: "Graded",
}
# Notices shown after a redirect: chosen from this list by key, never text taken from the URL.
NOTICES = {
    "saved": "Saved. Your draft is kept; you can come back to it any time before the final deadline.",
    "unchanged": "Nothing had changed since your last save.",
    "submitted": "Submitted. Your attempt is now waiting for assessment; nothing in it can change.",
    "link-added": "Link added.",
    "artifact-added": "File added.",
    "artifact-removed": "Removed.",
    "artifact-replaced": "File replaced.",
    "started": "You are enrolled in the current term. This is your new attempt; your earlier work is kept.",
    "resubmission-started": "Your new attempt starts as a copy of the last one: revise what the feedback "
                            "asks for, then submit it.",
}
TEXT_VALUES = ("overview", "reflection", "collaboration", "collaborators")
LINK_VALUES = ("artifact_url", "artifact_title")


# -- access -----------------------------------------------------------------------------------------------
def educator_only(view):
    """The launch must make this person an educator. A POST whose launch expired gets its text back."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        try:
            launch = current_launch()
        except NotAllowed as error:
            if request.method != "POST":
                raise
            return _expired_launch(error)
        if not launch.has_duty(roles.EDUCATOR):
            raise NotAllowed(
                "Only educators working towards this micro-credential can open the submission page.",
                hint="If you think you should, ask your instructor or LMS administrator.",
            )
        try:
            return view(*args, **kwargs)
        except NotFound as error:
            if request.method != "POST" or _is_autosave():
                raise
            return _not_this_activity(error)

    return wrapped


def _sent_text() -> dict:
    """The person's text exactly as sent, to hand it back when it could not be kept."""
    return {name: request.form[name] for name in TEXT_VALUES if name in request.form}


def _sent_link() -> dict:
    """The link (address and caption) an add-link form sent, to hand back when it could not be added."""
    return {name: request.form[name] for name in LINK_VALUES if request.form.get(name, "").strip()}


def _expired_launch(error: NotAllowed):
    if _is_autosave():
        return jsonify(error="expired", message=error.message, hint=error.hint, values=_sent_text()), 401
    return render_template("submissions/expired.html", message=error.message, hint=error.hint,
                           values=_sent_text(), link=_sent_link() if request.endpoint == "submissions.add_link"
                           else {}), 401


def _not_this_activity(error: NotFound):
    """A form naming work this launch does not lead to (another activity's attempt, an older page of another term):
    refused, nothing changed, and what the person typed is handed back (404)."""
    db.session.rollback()
    return render_template("submissions/expired.html", message=error.message, hint=error.hint, values=_sent_text(),
                           link=_sent_link() if request.endpoint == "submissions.add_link" else {}), 404


def _is_autosave() -> bool:
    return request.endpoint == "submissions.autosave"


def _bound_microcredential(launch):
    resource_link = launch.resource_link
    microcredential = microcredential_of(resource_link)
    if microcredential is None:
        raise NotFound(
            "This activity is not set up with a micro-credential yet.",
            hint="Ask your instructor to choose the micro-credential for it.",
        )
    return resource_link, microcredential


def _enrollment_for(launch):
    """The enrollment whose work the page shows (see `enrollments.enrollment_to_show`)."""
    resource_link, microcredential = _bound_microcredential(launch)
    return enrollment_to_show(launch.user, microcredential, current_term(), resource_link)


def _new_term_offer(enrollment: Enrollment, term):
    """The current term, when the page shows another term's work and the current one can be joined now."""
    if term is None or term.id == enrollment.term_id or not term.is_enrollment_open(utcnow()):
        return None
    return term


def _posted_attempt() -> Attempt:
    """The attempt named by the form, only when it is one of the launch's enrollment (`launch_scope`): anyone
    else's, and the person's own work of another activity, is not found."""
    attempt_id = parse_id(request.values.get("attempt_id"))
    if attempt_id is None:
        raise NotFound("That submission was not found.")
    return launch_attempt(current_launch(), attempt_id)


def _posted_version() -> int:
    version = parse_id(request.form.get("version"))
    if version is None:
        raise InvalidInput("The form is missing its version; reload the page and try again.")
    return version


def _page_url(notice: str | None = None, anchor: str | None = None) -> str:
    return url_for("submissions.page", ltik=g.ltik, notice=notice, _anchor=anchor)


def _description_url(microcredential) -> str:
    try:
        return url_for("catalog.detail", slug=microcredential.slug, ltik=g.ltik)
    except BuildError:  # the catalog pages may not be mounted
        return f"/catalog/{microcredential.slug}?ltik={g.ltik}"


def _context(attempt: Attempt, **extra) -> dict:
    enrollment = attempt.enrollment
    term = enrollment.term
    launch = current_launch()
    now = utcnow()
    is_past_deadline = term.is_past_deadline(now)
    return {
        "attempt": attempt,
        "enrollment": enrollment,
        "term": term,
        "microcredential": enrollment.microcredential,
        "user": launch.user,
        "course": launch.context,
        "description_url": _description_url(enrollment.microcredential),
        "is_past_deadline": is_past_deadline,
        "can_edit": attempt.is_editable and not is_past_deadline,
        "status_label": STATUS_LABELS.get(attempt.status, attempt.status),
        "marking_label": MARKING_LABELS.get(attempt.marking_status, attempt.marking_status),
        "parts": PARTS,
        "part_titles": PART_TITLES,
        "allowed_extensions": ALLOWED_EXTENSIONS,
        "now": now,
        "artifact_url": _optional_url,
        "file_url": lambda artifact, inline=False: reader_file_url(launch, artifact, inline=inline),
        "upload_url": _optional_url("artifacts.upload"),
        "format_size": format_size,
        **extra,
    }


def _optional_url(endpoint: str, **values) -> str | None:
    """The URL of a view that may not be mounted (the artifact views); None when it is not.

    POST forms carry the launch reference in their body (it doubles as the CSRF token); files are read through
    their own short-lived links (`file_url`), never with a launch reference.
    """
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


# -- the page ---------------------------------------------------------------------------------------------
@bp.get("/")
@educator_only
def page():
    """The submission page; the very first visit enrolls the educator (never past the term's limit)."""
    launch = current_launch()
    # Held for the whole request: the session keeps only weak references, and the page reads these again.
    resource_link, microcredential = _bound_microcredential(launch)
    user, term = launch.user, current_term()
    try:
        enrollment = enrollment_to_show(user, microcredential, term, resource_link)
    except (MicroCredentialFull, EnrollmentClosed) as error:
        return _not_enrolled(launch, error)
    attempt = services.current_attempt(enrollment)
    notice = NOTICES.get(request.args.get("notice", ""))
    # What changed since the last visit (a decision released, say), told by the packages that follow the work.
    changes = [text for _, texts in submission_page_viewed.send(enrollment, now=utcnow()) for text in texts or ()]
    return render_template("submissions/page.html", **_context(
        attempt, notice=notice, other_term=term is not None and term.id != enrollment.term_id,
        start_term=_new_term_offer(enrollment, term), changes=changes,
    ))


def _not_enrolled(launch, error: Conflict):
    _, microcredential = _bound_microcredential(launch)
    return render_template("submissions/full.html", error=error, microcredential=microcredential,
                           user=launch.user, course=launch.context), error.status


@bp.post("/start")
@educator_only
def start():
    """Enroll in the current term because the person chose to (their earlier term's work stays as it is)."""
    launch = current_launch()
    resource_link, microcredential = _bound_microcredential(launch)
    term = current_term()
    if term is None or request.form.get("term_id") != str(term.id):
        return redirect(_page_url(), code=303)  # the terms moved on since the page was shown: show them again
    try:
        services.enroll(launch.user, microcredential, term, resource_link)
    except (MicroCredentialFull, EnrollmentClosed) as error:
        return _not_enrolled(launch, error)
    return redirect(_page_url("started"), code=303)


@bp.post("/")
@educator_only
def act():
    """Save changes, ask to submit (after keeping the text sent along), or confirm the submission."""
    attempt = _posted_attempt()
    action = request.form.get("action", "save")
    if action == "confirm":
        return _confirm(attempt, _posted_version())
    before = attempt.version
    try:
        if action not in ("save", "submit"):
            raise InvalidInput("Choose Save changes or Submit.")
        services.save_draft(attempt, services.clean_changes(request.form), _posted_version())
    except (StaleSave, AttemptLocked, DeadlinePassed, InvalidInput) as error:
        return refused_save_page(attempt, error)
    if action == "submit":
        return redirect(url_for("submissions.confirm", ltik=g.ltik, attempt_id=attempt.id), code=303)
    return redirect(_page_url("saved" if attempt.version != before else "unchanged"), code=303)


def refused_save_page(attempt: Attempt, error: Conflict | InvalidInput, *, undone: str | None = None):
    """A page that gives the person their text back, next to what is saved now (409; 400 for a bad field).
    `undone`: the text came with another change (an upload or a removal without JavaScript), which was not made
    either; the sentence says so."""
    db.session.rollback()
    db.session.refresh(attempt)
    return render_template(
        "submissions/conflict.html",
        **_context(attempt, error=error, values=_sent_text(), is_stale=isinstance(error, StaleSave),
                   is_invalid=isinstance(error, InvalidInput), undone=undone),
    ), error.status


@bp.get("/confirm")
@educator_only
def confirm():
    """The confirmation step: names anything missing, or asks to confirm (nothing can change after it)."""
    attempt = _posted_attempt()
    missing = [MISSING_LABELS[name] for name in attempt.missing_parts()]
    return render_template("submissions/confirm.html", **_context(attempt, missing=missing))


def _confirm(attempt: Attempt, version: int):
    try:
        services.submit_attempt(attempt, version)
    except IncompleteSubmission as error:
        missing = [MISSING_LABELS[name] for name in error.missing]
        return render_template("submissions/confirm.html", **_context(attempt, missing=missing)), 400
    except AttemptLocked as error:
        return _refused(attempt, error, "This attempt was already submitted")
    except (StaleSave, DeadlinePassed) as error:
        return _refused(attempt, error, error.title)
    return redirect(_page_url("submitted"), code=303)


def _refused(attempt: Attempt, error: Conflict, title: str):
    db.session.rollback()
    db.session.refresh(attempt)
    return render_template("submissions/refused.html", **_context(attempt, error=error, title=title)), 409


# -- links ------------------------------------------------------------------------------------------------
@bp.post("/links")
@educator_only
def add_link():
    """Add an http(s) link as a work example."""
    attempt = _posted_attempt()
    try:
        services.add_link_artifact(attempt, request.form.get("artifact_url", ""), request.form.get("artifact_title"))
    except (AttemptLocked, DeadlinePassed) as error:
        return _refused(attempt, error, error.title)
    return redirect(_page_url("link-added", anchor="part-artifacts"), code=303)


# -- autosave ---------------------------------------------------------------------------------------------
@bp.post("/autosave")
@educator_only
def autosave():
    """The text parts saving themselves while the person types: JSON in, JSON out."""
    try:
        attempt = _posted_attempt()
        services.save_draft(attempt, services.clean_changes(request.form), _posted_version())
    except StaleSave as error:
        return jsonify(error="stale", message=error.message, hint=error.hint, values=_sent_text()), 409
    except (AttemptLocked, DeadlinePassed) as error:
        return jsonify(error="closed", message=error.message, hint=error.hint, values=_sent_text()), 409
    except (InvalidInput, NotFound) as error:
        return jsonify(error="invalid", message=error.message, hint=error.hint, values=_sent_text()), error.status
    saved_at = attempt.content_changed_at
    return jsonify(
        version=attempt.version,
        status=attempt.status,
        saved_at=saved_at.isoformat() if saved_at else None,
        # The time as the page shows times (the term's zone, named): the browser's own zone plays no part.
        saved_label=local_datetime_label(saved_at, zone_of(attempt.enrollment.term), "time"),
    )
