"""LTI Submission Review 1.0: from the LMS gradebook to one educator's work (`for_user`).

An instructor of the course sees that educator's attempts, feedback and decision, with the educator's name, and
may allow a resubmission under the `manual` reopen rule; an assessor goes to the blind scoring page of the
latest attempt; an educator reviewing their own work sees their submission page; anyone else is refused.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Flask, g, redirect, render_template, request, url_for

from lti_tool.assessment import feedback
from lti_tool.assessment.allocation import scope_for
from lti_tool.assessment.services import allow_resubmission
from lti_tool.catalog.parts import PART_TITLES, PARTS
from lti_tool.core.errors import InvalidInput, NotAllowed, NotFound
from lti_tool.core.storage import format_size
from lti_tool.lti import claims, roles
from lti_tool.lti.hooks import register_launch_handler
from lti_tool.lti.launch_context import current_launch, issue_launch_token
from lti_tool.submissions.file_links import reader_file_url
from lti_tool.submissions.views import MARKING_LABELS, STATUS_LABELS

bp = Blueprint("submission_review", __name__, url_prefix="/submission-review")

NOTICES = {"reopened": "A resubmission is allowed: the educator can start a new attempt from their page."}


def open_submission_review(launch, ltik: str, body: dict):
    """The launch handler of `LtiSubmissionReviewRequest` (Submission Review 1.0 §3): one page decides the rest."""
    return redirect(url_for("submission_review.index", ltik=ltik), code=303)


def _reviewed_person(launch):
    """The educator named by the launch's `for_user`, in the activity it was launched from."""
    if launch.for_user_id is None or launch.resource_link is None:
        raise InvalidInput("This page opens from the LMS gradebook, for one educator's submission.",
                           hint="Open the submission from the gradebook of your course.")
    educator = launch.for_user
    if educator is None:
        raise NotFound("That educator was not found.")
    return educator


@bp.get("/")
def index():
    """Who launched decides what they see: instructor, assessor, the educator themselves; nobody else."""
    launch = current_launch()
    educator = _reviewed_person(launch)
    if educator.id == launch.user_id and launch.has_duty(roles.EDUCATOR):
        return redirect(url_for("submissions.page", ltik=_without_for_user(launch)), code=303)
    if launch.has_duty(roles.INSTRUCTOR):
        return _instructor_review(launch, educator)
    if launch.has_duty(roles.ASSESSOR):
        return _to_blind_scoring(launch, educator)
    raise NotAllowed("Only the course's instructors and assessors can review an educator's submission.",
                     hint="If you think you should, ask your instructor or LMS administrator.")


def _without_for_user(launch) -> str:
    """A launch reference that no longer names the educator (a page opened from it must not carry their id)."""
    return issue_launch_token(replace(launch, for_user_id=None))


def _to_blind_scoring(launch, educator):
    """An assessor reviews blind: the scoring page of the latest attempt, reached without the educator's identity."""
    assessment = feedback.latest_assessment_of_user(educator.id, launch.resource_link)
    if assessment is None:
        raise NotFound("This educator has not submitted anything to assess yet.",
                       hint="The gradebook shows a submission once it has been submitted.")
    if not scope_for(launch.user).covers(assessment):
        raise NotAllowed("This submission is not in your assessment queue.",
                         hint="Ask an admin if you should assess it.")
    return redirect(url_for("assessment.score", assessment_id=assessment.id, ltik=_without_for_user(launch)),
                    code=303)


def _instructor_review(launch, educator):
    enrollments = feedback.enrollments_for_review(educator.id, launch.resource_link)
    latest = feedback.latest_assessment_of_user(educator.id, launch.resource_link)
    return render_template(
        "assessment/review.html",
        educator=educator,
        user=launch.user,
        course=launch.context,
        reviews=[(enrollment, feedback.reviewed_attempts(enrollment)) for enrollment in enrollments],
        can_allow_resubmission=feedback.is_manual_reopen_possible(latest),
        latest_assessment=latest,
        notice=NOTICES.get(request.args.get("notice", "")),
        parts=PARTS,
        part_titles=PART_TITLES,
        status_labels=STATUS_LABELS,
        marking_labels=MARKING_LABELS,
        size_label=format_size,
        download_url=lambda artifact: reader_file_url(launch, artifact),
    )


@bp.post("/allow-resubmission")
def allow():
    """An instructor reopens a released *Not yet* for a new attempt (the `manual` reopen rule)."""
    launch = current_launch()
    educator = _reviewed_person(launch)
    if not launch.has_duty(roles.INSTRUCTOR):
        raise NotAllowed("Only the course's instructors can allow a resubmission here.")
    latest = feedback.latest_assessment_of_user(educator.id, launch.resource_link)
    if latest is None:
        raise InvalidInput("Nothing of this educator has been submitted or assessed yet: there is nothing to reopen.")
    if latest.microcredential.reopen_rule != "manual":
        raise InvalidInput("This micro-credential reopens by itself after a *Not yet*: there is nothing to allow.")
    allow_resubmission(latest, launch.user_id)
    return redirect(url_for("submission_review.index", ltik=g.ltik, notice="reopened"), code=303)


@bp.record_once
def _register_hooks(_state) -> None:
    """At app start: submission review launches come here."""
    register_launch_handler(claims.SUBMISSION_REVIEW_REQUEST, open_submission_review)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
