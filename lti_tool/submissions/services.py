"""Verbs on an educator's work: enroll, save a draft, add or remove artifacts, submit. They flush, never commit.

Every change of state queues a score for the LMS gradebook in the same transaction (the outbox):
a first saved draft → InProgress/NotReady; submitted → Submitted/PendingManual (AGS 2.0 §3.4).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from lti_tool.catalog.parts import PART_TITLES
from lti_tool.core.db import get_or_create
from lti_tool.core.errors import Conflict, InvalidInput, NotFound
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.gradebook.services import enqueue_score
from lti_tool.submissions.models import (
    Artifact,
    ArtifactKind,
    Attempt,
    Enrollment,
    EnrollmentQuota,
    SubmissionStatus,
)
from lti_tool.submissions.signals import attempt_submitted

TEXT_FIELDS = ("overview", "reflection", "collaborators")
MAX_TEXT_LENGTH = 100_000
MAX_URL_LENGTH = 2000
MAX_TITLE_LENGTH = 300
MISSING_LABELS = {
    **PART_TITLES,
    "artifacts": "Work examples and artifacts (add at least one file or link)",
    "collaboration": "Collaboration statement (did you work with a colleague?)",
    "collaborators": "Collaboration statement (the colleague you worked with)",
}


class EnrollmentClosed(Conflict):
    title = "Enrollment is closed"


class MicroCredentialFull(Conflict):
    title = "This micro-credential is full"


class DeadlinePassed(Conflict):
    title = "The final deadline has passed"


class AttemptLocked(Conflict):
    title = "This attempt has been submitted"


class StaleSave(Conflict):
    """Someone (another tab, an older page) saved after this page was loaded; the text comes back to the person."""

    title = "Your changes were not saved"

    def __init__(self, message: str, *, values: dict | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.values = values or {}


class IncompleteSubmission(InvalidInput):
    title = "Some parts are still empty"

    def __init__(self, missing: list[str]):
        names = ", ".join(MISSING_LABELS[m] for m in missing)
        super().__init__(f"Complete these parts before you submit: {names}.")
        self.missing = missing


# -- enrollment ----------------------------------------------------------------------------------------
def find_enrollment(user_id: int, microcredential_id: int, term_id: int) -> Enrollment | None:
    return db.session.scalar(
        db.select(Enrollment).where(
            Enrollment.user_id == user_id,
            Enrollment.microcredential_id == microcredential_id,
            Enrollment.term_id == term_id,
        )
    )


def enroll(user, microcredential, term, resource_link, *, now: datetime | None = None) -> Enrollment:
    """Enroll an educator, once; a seat is taken by one conditional UPDATE, so the limit holds under concurrency."""
    existing = find_enrollment(user.id, microcredential.id, term.id)
    if existing is not None:
        return existing
    now = now or utcnow()
    if not term.is_enrollment_open(now):
        raise EnrollmentClosed(
            f"Enrollment for {term.title} is not open.",
            hint="Enrollment dates are shown on the micro-credential's page; ask your instructor if you need help.",
        )
    quota, _ = get_or_create(EnrollmentQuota, {"microcredential_id": microcredential.id, "term_id": term.id})
    try:
        with db.session.begin_nested():
            seat = update(EnrollmentQuota).where(EnrollmentQuota.id == quota.id)
            if term.earner_limit is not None:
                seat = seat.where(EnrollmentQuota.enrolled_count < term.earner_limit)
            taken = db.session.execute(
                seat.values(enrolled_count=EnrollmentQuota.enrolled_count + 1),
                execution_options={"synchronize_session": False},
            )
            if taken.rowcount != 1:
                raise MicroCredentialFull(
                    f"“{microcredential.title}” has reached its limit of {term.earner_limit} educators for "
                    f"{term.title}. You have not been enrolled.",
                    hint="Choose another micro-credential, or ask your instructor about the next term.",
                )
            enrollment = Enrollment(
                user_id=user.id, microcredential_id=microcredential.id, term_id=term.id,
                resource_link_id=resource_link.id,
            )
            db.session.add(enrollment)
            db.session.flush()
    except IntegrityError:
        # The same person enrolled from another tab at the same moment: theirs stands, no second seat.
        existing = find_enrollment(user.id, microcredential.id, term.id)
        if existing is None:
            raise
        return existing
    return enrollment


def current_attempt(enrollment: Enrollment) -> Attempt:
    """The attempt the educator works on: the latest, or attempt 1 (status `new`).

    Attempt 1 is created once even when several first openings of the page arrive together (a double click, two
    tabs, a reload): the insert runs in a savepoint, and the request that loses the race on the unique attempt
    number reads the winner's attempt instead (`get_or_create`, on SQLite and PostgreSQL alike).
    """
    attempt = enrollment.latest_attempt
    if attempt is not None:
        return attempt
    attempt, _ = get_or_create(Attempt, {"enrollment_id": enrollment.id, "number": 1},
                               {"status": SubmissionStatus.NEW.value})
    db.session.expire(enrollment, ["attempts"])  # the list read before now holds attempt 1
    return attempt


# -- drafts ---------------------------------------------------------------------------------------------
def _check_open(attempt: Attempt, now: datetime, values: dict | None = None) -> None:
    if attempt.is_locked:
        raise AttemptLocked(
            f"Attempt {attempt.number} was submitted on {attempt.submitted_at:%d %B %Y at %H:%M} UTC and can no "
            "longer change.",
            hint="Your submitted work is shown below. Nothing was lost.",
        )
    term = attempt.enrollment.term
    if term.is_past_deadline(now):
        raise DeadlinePassed(
            f"The final deadline for {term.title} has passed, so this attempt can no longer change.",
            hint="Your saved draft stays readable here; nothing has been deleted.",
        )


def clean_changes(form: dict) -> dict:
    """The text parts and the collaboration statement, as the person typed them (length-limited)."""
    changes = {}
    for name in TEXT_FIELDS:
        if name in form:
            value = (form.get(name) or "").replace("\r\n", "\n")
            if len(value) > MAX_TEXT_LENGTH:
                raise InvalidInput(f"{name.capitalize()} is longer than {MAX_TEXT_LENGTH:,} characters.")
            changes[name] = value
    if "collaboration" in form:
        choice = form.get("collaboration")
        if choice not in ("yes", "no", "", None):
            raise InvalidInput("The collaboration statement must be yes or no.")
        changes["collaborated"] = {"yes": True, "no": False}.get(choice)
    return changes


def save_draft(attempt: Attempt, changes: dict, expected_version: int, *, now: datetime | None = None) -> Attempt:
    """Keep the person's text. A save based on an older version is refused and its text handed back."""
    now = now or utcnow()
    _check_open(attempt, now, changes)
    current = {name: getattr(attempt, name) for name in changes}
    if expected_version != attempt.version:
        raise StaleSave(
            "This page is out of date: your work was changed in another tab or window after you opened it.",
            values=changes,
            hint="Your text is shown below so nothing is lost; copy what you need, reload, and save again.",
        )
    if changes == current:
        return attempt
    becomes_draft = attempt.status in (SubmissionStatus.NEW, SubmissionStatus.REOPENED)
    values = {**changes, "version": expected_version + 1, "content_changed_at": now}
    if becomes_draft:
        values["status"] = SubmissionStatus.DRAFT.value
    saved = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.version == expected_version,
               Attempt.status != SubmissionStatus.SUBMITTED.value)
        .values(**values),
        execution_options={"synchronize_session": False},
    )
    db.session.expire(attempt)
    if saved.rowcount != 1:  # another request won the race between our read and this write
        raise StaleSave(
            "Your work was changed in another tab or window at the same moment.",
            values=changes,
            hint="Your text is shown below; reload and save again.",
        )
    if becomes_draft:
        _queue_progress(attempt, "InProgress", "NotReady")
    return attempt


def _touch(attempt: Attempt, now: datetime) -> None:
    """An artifact changed: the attempt is a draft now, and its version moves on like a text save.

    One conditional UPDATE (`version + 1`), so two changes at once both count and a confirmation page,
    autosave or form opened before this change is refused as stale instead of acting on the old files.
    """
    db.session.flush()
    becomes_draft = attempt.status in (SubmissionStatus.NEW, SubmissionStatus.REOPENED)
    values = {"version": Attempt.version + 1, "content_changed_at": now}
    if becomes_draft:
        values["status"] = SubmissionStatus.DRAFT.value
    touched = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.status != SubmissionStatus.SUBMITTED.value)
        .values(**values),
        execution_options={"synchronize_session": False},
    )
    db.session.expire(attempt, ["version", "status", "content_changed_at"])
    if touched.rowcount != 1:  # submitted from another tab between the check and this change
        raise AttemptLocked("This attempt was submitted (perhaps from another tab), so it can no longer change.",
                            hint="Your submitted work is shown on the submission page. Nothing was lost.")
    if becomes_draft:
        _queue_progress(attempt, "InProgress", "NotReady")


def validate_link(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise InvalidInput("Enter the link's address.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"The link is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidInput("The link contains spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput("Only web links that start with http:// or https:// can be added.",
                           hint="Share the file from your drive and paste its sharing link.")
    return url


def _clean_title(title: str | None) -> str:
    title = (title or "").strip()
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"The caption is longer than {MAX_TITLE_LENGTH} characters.")
    return title


def _next_position(attempt: Attempt) -> int:
    return max((a.position for a in attempt.artifacts), default=-1) + 1


def add_link_artifact(attempt: Attempt, url: str, title: str | None = None, *,
                      now: datetime | None = None) -> Artifact:
    now = now or utcnow()
    _check_open(attempt, now)
    artifact = Artifact(attempt=attempt, kind=ArtifactKind.LINK.value, url=validate_link(url),
                        title=_clean_title(title), position=_next_position(attempt))
    db.session.add(artifact)
    _touch(attempt, now)
    db.session.flush()
    return artifact


def add_file_artifact(attempt: Attempt, stored, file_name: str, content_type: str, title: str | None = None, *,
                      now: datetime | None = None) -> Artifact:
    """Record a file already checked and stored (see `submissions.uploads`)."""
    now = now or utcnow()
    _check_open(attempt, now)
    artifact = Artifact(
        attempt=attempt, kind=ArtifactKind.FILE.value, file_name=file_name, storage_key=stored.key,
        content_type=content_type, size=stored.size, sha256=stored.sha256, title=_clean_title(title),
        position=_next_position(attempt),
    )
    db.session.add(artifact)
    _touch(attempt, now)
    db.session.flush()
    return artifact


def replace_file_artifact(old: Artifact, stored, file_name: str, content_type: str, title: str | None = None, *,
                          now: datetime | None = None) -> str | None:
    """Put a new file (already checked and stored) in an artifact's place: same position, same caption unless a
    new caption is given. Returns the old storage key, which the caller deletes after the commit."""
    now = now or utcnow()
    _check_open(old.attempt, now)
    old_key = old.storage_key
    if title is not None and title.strip():
        old.title = _clean_title(title)
    old.kind = ArtifactKind.FILE.value
    old.url = None
    old.file_name = file_name
    old.storage_key = stored.key
    old.content_type = content_type
    old.size = stored.size
    old.sha256 = stored.sha256
    old.created_at = now
    _touch(old.attempt, now)
    db.session.flush()
    return _unshared(old_key)


def update_artifact_title(artifact: Artifact, title: str | None, *, now: datetime | None = None) -> Artifact:
    now = now or utcnow()
    _check_open(artifact.attempt, now)
    artifact.title = _clean_title(title)
    _touch(artifact.attempt, now)
    db.session.flush()
    return artifact


def remove_artifact(artifact: Artifact, *, now: datetime | None = None) -> str | None:
    """Remove an artifact from a draft; returns the storage key the caller deletes after the commit."""
    now = now or utcnow()
    attempt = artifact.attempt
    _check_open(attempt, now)
    key = artifact.storage_key
    attempt.artifacts.remove(artifact)
    db.session.delete(artifact)
    _touch(attempt, now)
    db.session.flush()
    return _unshared(key)


def _unshared(storage_key: str | None) -> str | None:
    """The key, when no artifact refers to its file any more (a resubmission shares its files with the
    attempt it copies, so removing one from the new draft must not delete the earlier attempt's file)."""
    if storage_key is None:
        return None
    in_use = db.session.scalar(db.select(Artifact.id).where(Artifact.storage_key == storage_key).limit(1))
    return None if in_use is not None else storage_key


def copy_attempt(previous: Attempt, *, now: datetime | None = None) -> Attempt:
    """Attempt N+1 as a copy of attempt N (status `reopened`): texts, collaboration, files and links carried over.

    Files are shared on disk, not duplicated: the new artifacts name the same storage keys. Flushes.
    """
    attempt = Attempt(
        enrollment_id=previous.enrollment_id, number=previous.number + 1, status=SubmissionStatus.REOPENED.value,
        overview=previous.overview, reflection=previous.reflection, collaborated=previous.collaborated,
        collaborators=previous.collaborators, content_changed_at=now or utcnow(),
    )
    attempt.artifacts = [
        Artifact(kind=a.kind, position=a.position, title=a.title, url=a.url, file_name=a.file_name,
                 storage_key=a.storage_key, storage_backend=a.storage_backend, content_type=a.content_type,
                 size=a.size, sha256=a.sha256, created_at=a.created_at)
        for a in previous.artifacts
    ]
    db.session.add(attempt)
    db.session.flush()
    db.session.expire(previous.enrollment, ["attempts"])
    return attempt


# -- submit -----------------------------------------------------------------------------------------------
def submit_attempt(attempt: Attempt, expected_version: int, *, now: datetime | None = None) -> Attempt:
    """Finalise the attempt: every part must have content; nothing can change after it."""
    now = now or utcnow()
    _check_open(attempt, now)
    if expected_version != attempt.version:
        raise StaleSave(
            "Your work was changed in another tab or window after this page was opened, so it was not submitted.",
            hint="Reload the page, check your work, and submit again.",
        )
    missing = attempt.missing_parts()
    if missing:
        raise IncompleteSubmission(missing)
    submitted = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.version == expected_version,
               Attempt.status != SubmissionStatus.SUBMITTED.value)
        .values(status=SubmissionStatus.SUBMITTED.value, submitted_at=now, version=expected_version + 1),
        execution_options={"synchronize_session": False},
    )
    db.session.expire(attempt)
    if submitted.rowcount != 1:
        raise AttemptLocked("This attempt was already submitted (perhaps from another tab).",
                            hint="Your submitted work is shown below. Nothing was lost.")
    _queue_progress(attempt, "Submitted", "PendingManual")
    attempt_submitted.send(attempt, now=now)
    return attempt


def _queue_progress(attempt: Attempt, activity_progress: str, grading_progress: str) -> None:
    """A progress-only score for every placement the educator opened; none for a platform that refuses those
    (the state shows on the instructors' progress view either way)."""
    enrollment = attempt.enrollment
    enqueue_score(enrollment.resource_link, enrollment.user, activity_progress, grading_progress)


# -- the work one launch may act on (appended for issue 10) ------------------------------------------------
def get_attempt_of_enrollment(enrollment: Enrollment | None, attempt_id: int) -> Attempt:
    """An attempt of this enrollment (the one its launch leads to); any other is 'not found', the person's own work
    of another activity included: a launch of one resource link never acts on another's attempt."""
    attempt = next((a for a in enrollment.attempts if a.id == attempt_id), None) if enrollment is not None else None
    if attempt is None:
        raise NotFound("That submission was not found.",
                       hint="It does not belong to the activity you opened. Open that activity from your course.")
    return attempt


def get_artifact_of_enrollment(enrollment: Enrollment | None, artifact_id: int) -> Artifact:
    """A file or link of one of this enrollment's attempts; any other is 'not found' (see get_attempt_of_enrollment).
    Looked up among the enrollment's own attempts: an id out of the database's range is simply not among them."""
    attempts = enrollment.attempts if enrollment is not None else []
    artifact = next((a for attempt in attempts for a in attempt.artifacts if a.id == artifact_id), None)
    if artifact is None:
        raise NotFound("That file was not found.",
                       hint="It does not belong to the activity you opened. Open that activity from your course.")
    return artifact
