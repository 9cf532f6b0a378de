"""The assessor's pages: the queue, the blind scoring page with the rubric, release, file links; admins'
reassignment, organization assessors and the audit log.

Nothing here names the educator: pages, URLs, file names and headers carry the pseudonym only. Files are read
through short-lived links issued on the scoring page (`submissions.file_links`, grant `assessment`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for

from lti_tool.assessment import allocation, rubric, services
from lti_tool.assessment.allocation import (
    AssessorScope,
    admin_scope,
    assessor_candidates,
    organization_assessor_duties,
    scope_for,
)
from lti_tool.assessment.models import Assessment, AssessorGrant, Scoring, Slot
from lti_tool.assessment.queue import STATES, QueueFilter, microcredentials_in, queue_page
from lti_tool.assessment.services import MARKING_LABELS, ClaimedByAnother, StaleScoring, WrongState
from lti_tool.catalog.models import MicroCredential
from lti_tool.catalog.parts import PART_TITLES, PARTS
from lti_tool.catalog.services import current_term, list_microcredentials
from lti_tool.core.dates import zone_of
from lti_tool.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from lti_tool.core.ids import parse_id
from lti_tool.core.models import utcnow
from lti_tool.core.storage import format_size
from lti_tool.extensions import db
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch
from lti_tool.lti.models import LtiUser
from lti_tool.submissions.file_links import file_url, register_grant
from lti_tool.submissions.files import shows_in_a_frame
from lti_tool.submissions.models import Artifact, MarkingStatus

bp = Blueprint("assessment", __name__, url_prefix="/assessment")

NOTICES = {
    "saved": "Saved. Your scoring is kept as a draft.",
    "completed": "Scoring complete.",
    "released": "Released: the educator and the LMS gradebook now have the outcome.",
    "reassigned": "Reassigned.",
    "granted": "Organization assessor added.",
    "revoked": "Organization assessor removed.",
}


@dataclass(frozen=True)
class Viewer:
    """Who is looking: their assessor scope (what they may score) and, for admins, the whole platform."""

    user: LtiUser
    scope: AssessorScope
    admin: AssessorScope | None

    @property
    def sees(self) -> AssessorScope:
        """The queue they see: an admin's whole platform, else what they may score."""
        return self.admin or self.scope

    def may_score(self, assessment: Assessment) -> bool:
        return self.scope.covers(assessment)

    def may_see(self, assessment: Assessment) -> bool:
        return self.scope.covers(assessment) or (self.admin is not None and self.admin.covers(assessment))


def _viewer_of(user: LtiUser, *, is_admin: bool, is_assessor: bool) -> Viewer | None:
    """What a person sees with the duties a launch gave them (admin, assessor); None: nothing to assess or oversee."""
    admin = admin_scope(user) if is_admin else None
    # An admin oversees (queue, release, reassignment, log) and never scores, unless the launch also makes
    # them an assessor (a teaching assistant, grader or mentor, or an organization assessor).
    may_assess = admin is None or is_assessor
    scope = scope_for(user) if may_assess else AssessorScope(user_id=user.id, registration_id=user.registration_id)
    if scope.is_empty and admin is None:
        return None
    return Viewer(user=user, scope=scope, admin=admin)


def _viewer() -> Viewer:
    """The launch's person, if they may assess anything or administer the platform; everyone else is refused."""
    if "assessment_viewer" not in g:
        launch = current_launch()
        viewer = _viewer_of(launch.user, is_admin=launch.has_duty(roles.ADMIN),
                            is_assessor=launch.has_duty(roles.ASSESSOR))
        if viewer is None:
            raise NotAllowed("Only assessors can open the assessment queue.",
                             hint="Assessors are teaching assistants, graders or mentors of a course, or people an "
                                  "administrator made assessors of a micro-credential.")
        g.assessment_viewer = viewer
    return g.assessment_viewer


def _require_admin() -> Viewer:
    viewer = _viewer()
    if viewer.admin is None:
        raise NotAllowed("Only administrators can do this.")
    return viewer


def _visible(assessment_id: int) -> Assessment:
    assessment = db.session.get(Assessment, assessment_id)
    if assessment is None or not _viewer().may_see(assessment):
        raise NotFound("That submission is not in your assessment queue.",
                       hint="Open the queue to see the submissions you may assess.")
    return assessment


def _queue_url(notice: str | None = None) -> str:
    return url_for("assessment.queue", ltik=g.ltik, notice=notice)


def _score_url(assessment: Assessment, notice: str | None = None) -> str:
    return url_for("assessment.score", assessment_id=assessment.id, ltik=g.ltik, notice=notice)


# -- the queue ------------------------------------------------------------------------------------------------
def _int_arg(name: str) -> int | None:
    return parse_id(request.args.get(name))


@bp.get("/")
def queue():
    """Submitted attempts this person may assess, oldest first, under pseudonyms; overdue work counted on top."""
    viewer = _viewer()
    state = request.args.get("state", "open")
    queue_filter = QueueFilter(
        microcredential_id=_int_arg("microcredential"),
        state=state if state in STATES else "open",
        overdue_only=request.args.get("overdue") == "1",
        page=_int_arg("page") or 1,
    )
    sees = viewer.sees
    page = queue_page(sees, queue_filter, page_size=current_app.config["ASSESSMENT_QUEUE_PAGE_SIZE"],
                      can_score=not viewer.scope.is_empty)
    return render_template(
        "assessment/queue.html", page=page, queue_filter=queue_filter, states=STATES,
        microcredentials=microcredentials_in(sees), is_admin=viewer.admin is not None,
        notice=NOTICES.get(request.args.get("notice", "")), skipped=request.args.getlist("skipped"),
        time_zone=zone_of(current_term()),  # a list of many terms: the current term's zone, named in the heading
    )


# -- one submission -------------------------------------------------------------------------------------------
def _mode(assessment: Assessment, viewer: Viewer) -> tuple[str, Scoring | None]:
    """What this person does on the page — score, review, third (reconcile) or view — and the scoring they edit.

    Opening the page is what claims: a scoring slot in marking, the review in `readyforreview`.
    """
    user_id = viewer.user.id
    status = assessment.attempt.marking_status
    if not viewer.may_score(assessment):
        return "view", None
    mine = next((s for s in assessment.scorings if s.assessor_id == user_id), None)
    if status in (MarkingStatus.NOT_MARKED, MarkingStatus.IN_MARKING):
        if mine is not None and mine.is_complete:
            return "view", None
        scoring = services.claim_scoring(assessment, user_id)
        return ("third" if scoring.slot == Slot.THIRD else "score"), scoring
    if status in (MarkingStatus.READY_FOR_REVIEW, MarkingStatus.IN_REVIEW) and user_id not in assessment.scorer_ids():
        return "review", services.claim_review(assessment, user_id)
    return "view", None


def _page(assessment: Assessment, mode: str, scoring: Scoring | None, *, values: dict | None = None,
          error=None, status: int = 200):
    viewer = _viewer()
    microcredential = assessment.microcredential
    others = []
    if mode == "third":
        others = [s for s in assessment.scorings if s.slot in (Slot.FIRST, Slot.SECOND)]
    shown = scoring
    if mode == "view":
        # While it is being marked, an assessor sees no scoring but their own (double-blind: never the other's,
        # even when the page refused them a slot); the decided scoring once marking is over, and admins always.
        mine = next((s for s in assessment.scorings if s.assessor_id == viewer.user.id), None)
        in_marking = assessment.attempt.marking_status in (MarkingStatus.NOT_MARKED, MarkingStatus.IN_MARKING)
        shown = mine if in_marking and viewer.admin is None else (assessment.record or mine)
    levels = (values or {}).get("levels", shown.levels if shown else {}) or {}
    feedback = (values or {}).get("feedback", shown.feedback if shown else {}) or {}
    attempt = assessment.attempt
    return render_template(
        "assessment/score.html",
        assessment=assessment, attempt=attempt, microcredential=microcredential, mode=mode, scoring=scoring,
        shown=shown, others=others, levels=levels, feedback=feedback, error=error,
        parts=PARTS, part_titles=PART_TITLES, status_label=MARKING_LABELS.get(attempt.marking_status),
        artifacts=_artifact_views(assessment), is_admin=viewer.admin is not None,
        can_release=attempt.marking_status == MarkingStatus.READY_FOR_RELEASE,
        candidates=assessor_candidates(assessment) if viewer.admin is not None and attempt.marking_status in (
            MarkingStatus.NOT_MARKED, MarkingStatus.IN_MARKING) else [],
        notice=NOTICES.get(request.args.get("notice", "")), now=utcnow(),
    ), status


@dataclass(frozen=True)
class ArtifactView:
    """An artifact as an assessor sees it: numbered, never by the educator's file name."""

    number: int
    artifact: Artifact
    url: str | None
    download_url: str | None
    kind: str  # pdf, image, video, audio, file, link

    @property
    def label(self) -> str:
        caption = self.artifact.title
        return f"Artifact {self.number}: {caption}" if caption else f"Artifact {self.number}"


def _artifact_views(assessment: Assessment) -> list[ArtifactView]:
    """The evidence with a short-lived link for each file, issued to this viewer (who may see the assessment)."""
    launch = current_launch()
    grant = [assessment.id, int(launch.has_duty(roles.ADMIN)), int(launch.has_duty(roles.ASSESSOR))]
    views = []
    for number, artifact in enumerate(assessment.attempt.artifacts, start=1):
        if not artifact.is_file:
            views.append(ArtifactView(number, artifact, artifact.url, None, "link"))
            continue
        content_type = artifact.content_type or ""
        kind = ("pdf" if content_type == "application/pdf" and shows_in_a_frame(artifact)
                else content_type.split("/")[0] if content_type.startswith(("image/", "video/", "audio/")) else "file")
        url = file_url(launch, artifact, "assessment", grant, inline=True) if kind != "file" else None
        views.append(ArtifactView(number, artifact, url, file_url(launch, artifact, "assessment", grant), kind))
    return views


def _check_file_of_assessment(artifact: Artifact, reader_id: int, grant) -> str:
    """A file link issued on a scoring page: the reader must still see that assessment (a reassignment ends it);
    the file goes out under a neutral name, never the educator's."""
    try:
        assessment_id, is_admin, is_assessor = grant
    except (TypeError, ValueError):
        raise NotFound("That file was not found.") from None
    assessment = db.session.get(Assessment, assessment_id)
    user = db.session.get(LtiUser, reader_id)
    viewer = _viewer_of(user, is_admin=bool(is_admin), is_assessor=bool(is_assessor)) if user is not None else None
    if assessment is None or viewer is None or not viewer.may_see(assessment) \
            or artifact.attempt_id != assessment.attempt_id:
        raise NotFound("That file was not found.", hint="Open it again from the scoring page.")
    number = next(i for i, a in enumerate(assessment.attempt.artifacts, start=1) if a.id == artifact.id)
    extension = os.path.splitext(artifact.file_name or "")[1].lower()[:8]
    return f"submission-{assessment.pseudonym}-attempt-{assessment.attempt_number}-artifact-{number}{extension}"


@bp.get("/<int:assessment_id>")
def score(assessment_id: int):
    """The scoring page: the evidence on one side, the rubric on the other. Opening it claims the submission."""
    assessment = _visible(assessment_id)
    try:
        mode, scoring = _mode(assessment, _viewer())
    except (ClaimedByAnother, WrongState, NotAllowed) as error:
        db.session.rollback()
        return _page(assessment, "view", None, error=error, status=error.status)
    return _page(assessment, mode, scoring)


def _posted_int(name: str) -> int:
    number = parse_id(request.form.get(name))
    if number is None:
        raise InvalidInput("The form is incomplete; reload the page and try again.")
    return number


def _posted_scoring(assessment: Assessment) -> Scoring:
    scoring = db.session.get(Scoring, _posted_int("scoring_id"))
    if scoring is None or scoring.assessment_id != assessment.id:
        raise NotFound("That scoring was not found.")
    return scoring


def _posted_mode(assessment: Assessment, scoring: Scoring) -> str:
    if assessment.attempt.marking_status == MarkingStatus.IN_REVIEW:
        return "review"
    return "third" if scoring.slot == Slot.THIRD else "score"


@bp.post("/<int:assessment_id>")
def act(assessment_id: int):
    """Save the scoring, complete it, or release the decision (`action` = save, complete, release)."""
    assessment = _visible(assessment_id)
    viewer = _viewer()
    action = request.form.get("action", "save")
    if action == "release":
        services.release_assessment(assessment, viewer.user.id)
        return redirect(_score_url(assessment, "released"), code=303)
    if action not in ("save", "complete"):
        raise InvalidInput("Choose Save, Complete or Release.")
    if not viewer.may_score(assessment):
        raise NotAllowed("Only an assessor of this submission can score it.")
    scoring = _posted_scoring(assessment)
    mode = _posted_mode(assessment, scoring)
    values = None
    try:
        levels, feedback = rubric.clean_scoring_form(assessment.microcredential, request.form)
        values = {"levels": levels, "feedback": feedback}
        version = _posted_int("version")
        if action == "save":
            services.save_scoring(scoring, viewer.user.id, levels, feedback, version)
            return redirect(_score_url(assessment, "saved"), code=303)
        services.complete_scoring(scoring, viewer.user.id, levels, feedback, version)
    except (StaleScoring, InvalidInput, Conflict) as error:
        db.session.rollback()
        db.session.refresh(assessment)
        db.session.refresh(scoring)
        if values is None:
            values = {"levels": {}, "feedback": {k[len("feedback-"):]: v for k, v in request.form.items()
                                                 if k.startswith("feedback-")}}
        return _page(assessment, mode, scoring, values=values, error=error, status=error.status)
    return redirect(_score_url(assessment, "completed"), code=303)


@bp.post("/<int:assessment_id>/autosave")
def autosave(assessment_id: int):
    """The scoring saving itself while the assessor types: JSON in, JSON out; a refusal hands the text back."""
    assessment = _visible(assessment_id)
    viewer = _viewer()
    try:
        if not viewer.may_score(assessment):
            raise NotAllowed("Only an assessor of this submission can score it.")
        scoring = _posted_scoring(assessment)
        levels, feedback = rubric.clean_scoring_form(assessment.microcredential, request.form)
        services.save_scoring(scoring, viewer.user.id, levels, feedback, _posted_int("version"))
    except StaleScoring as error:
        return jsonify(error="stale", message=error.message, hint=error.hint, values=error.values), 409
    except (InvalidInput, NotAllowed, NotFound, Conflict) as error:
        return jsonify(error="refused", message=error.message, hint=error.hint), error.status
    return jsonify(version=scoring.version)


@bp.post("/release")
def release():
    """Release one decision or many from the queue (`assessment_id` once or more)."""
    viewer = _viewer()
    ids = [number for number in map(parse_id, request.form.getlist("assessment_id")) if number is not None]
    if not ids:
        raise InvalidInput("Choose at least one submission to release.")
    scope = viewer.scope if viewer.admin is None else None
    registration_id = viewer.admin.registration_id if viewer.admin is not None else None
    released, skipped = services.release_many(ids, scope, viewer.user.id, registration_id=registration_id)
    if not released and skipped:
        raise Conflict("Nothing was released: " + "; ".join(skipped[:5]),
                       hint="Only decisions that are ready for release can be released, once.")
    return redirect(url_for("assessment.queue", ltik=g.ltik, notice="released", skipped=skipped[:20]), code=303)


# -- admins ---------------------------------------------------------------------------------------------------
@bp.post("/<int:assessment_id>/reassign")
def reassign(assessment_id: int):
    """An admin hands a submission to another assessor."""
    viewer = _require_admin()
    assessment = _visible(assessment_id)
    candidate_ids = {u.id for u in assessor_candidates(assessment)}
    new_id = _posted_int("assessor_id")
    if new_id not in candidate_ids:
        raise InvalidInput("Choose one of the listed assessors.")
    services.reassign(assessment, new_id, viewer.user.id)
    return redirect(_score_url(assessment, "reassigned"), code=303)


@bp.get("/<int:assessment_id>/log")
def log(assessment_id: int):
    """The audit log of one assessment (admins only): who changed what, when, from which state to which."""
    _require_admin()
    assessment = _visible(assessment_id)
    return render_template("assessment/log.html", assessment=assessment, events=services.audit_log(assessment),
                           labels=MARKING_LABELS)


@bp.route("/assessors", methods=["GET", "POST"])
def assessors():
    """Organization assessors: people of this platform who assess a micro-credential in every course."""
    viewer = _require_admin()
    registration_id = viewer.user.registration_id
    if request.method == "POST":
        if request.form.get("action") == "revoke":
            grant = db.session.get(AssessorGrant, _posted_int("grant_id"))
            if grant is None or grant.registration_id != registration_id:
                raise NotFound("That assessor was not found.")
            services.revoke_assessor(grant, viewer.user.id)
            return redirect(url_for("assessment.assessors", ltik=g.ltik, notice="revoked"), code=303)
        user = db.session.get(LtiUser, _posted_int("user_id"))
        microcredential = db.session.get(MicroCredential, _posted_int("microcredential_id"))
        if user is None or user.registration_id != registration_id or microcredential is None:
            raise InvalidInput("Choose a person of your platform and a micro-credential.")
        services.grant_assessor(user, microcredential, viewer.user.id)
        return redirect(url_for("assessment.assessors", ltik=g.ltik, notice="granted"), code=303)
    grants = services.organization_assessors(registration_id)
    people = allocation.people_of_platform(registration_id)
    microcredentials = list_microcredentials()
    return render_template("assessment/assessors.html", grants=grants, people=people,
                           microcredentials=microcredentials, notice=NOTICES.get(request.args.get("notice", "")))


def init_app(app) -> None:
    """Follow submissions into assessment, and mount the assessor's, educator's and reviewer's pages."""
    from lti_tool.assessment import educator_views, progress_facts
    from lti_tool.lti.hooks import register_duty_provider
    from lti_tool.submissions.signals import attempt_submitted

    attempt_submitted.connect(services.on_attempt_submitted)
    register_duty_provider(organization_assessor_duties)
    register_grant("assessment", _check_file_of_assessment)  # the scoring page's file links
    app.add_template_filter(format_size, "file_size")
    app.register_blueprint(bp)
    educator_views.init_app(app)  # and the submission review pages
    progress_facts.init_app(app)

