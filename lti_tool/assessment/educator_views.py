"""The educator's side of assessment: the released feedback on the submission page, starting a resubmission
after a *Not yet*, and what changed since the last visit.

The `submissions` package does not import this one (assessment follows submissions, not the reverse): the page
reads its feedback through the template global `assessment_feedback(attempt)` and learns what changed through the
`submission_page_viewed` signal, both plugged in by `init_app`.
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, redirect, request, url_for

from lti_tool.assessment import feedback
from lti_tool.assessment.services import start_resubmission
from lti_tool.core.errors import InvalidInput
from lti_tool.core.ids import parse_id
from lti_tool.lti import roles
from lti_tool.lti.launch_context import current_launch, require_duty
from lti_tool.submissions.launch_scope import launch_attempt
from lti_tool.submissions.signals import submission_page_viewed

bp = Blueprint("feedback", __name__)


@bp.post("/submission/resubmit")
@require_duty(roles.EDUCATOR)
def resubmit():
    """Start attempt N+1 as a copy of attempt N after a released *Not yet*; back to the submission page."""
    if request.form.get("action") != "resubmit":
        raise InvalidInput("Choose “Start resubmission” to open a new attempt.")
    attempt_id = parse_id(request.form.get("attempt_id"))
    if attempt_id is None:
        raise InvalidInput("The form is missing its attempt; reload the page and try again.")
    attempt = launch_attempt(current_launch(), attempt_id)  # only the attempt of this launch's activity
    start_resubmission(attempt.enrollment, from_attempt=attempt.number)
    return redirect(url_for("submissions.page", ltik=g.ltik, notice="resubmission-started"), code=303)


@bp.record_once
def _register_hooks(state) -> None:
    """At app start: the submission page reads its feedback and learns what changed through these."""
    state.app.add_template_global(feedback.feedback_for_page, "assessment_feedback")
    submission_page_viewed.connect(feedback.on_submission_page_viewed)


def init_app(app: Flask) -> None:
    """Mount the educator's and the reviewer's views (create_app calls this once)."""
    from lti_tool.assessment import review_views

    app.register_blueprint(bp)
    review_views.init_app(app)
