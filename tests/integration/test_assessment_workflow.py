"""The marking workflow through real HTTP: double-blind scoring and its third assessor, review before release,
a resubmission going back to its assessor, admins reassigning, organization assessors, and the audit log."""

from __future__ import annotations

import pytest

from tests.assessment_road import (
    all_levels,
    assessment_ids,
    form_fields,
    launch_assessor,
    open_assessment,
    release,
    score,
    set_microcredential,
    submit_work,
)
from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
FIRST_FEEDBACK = "Tie each rating to a classroom example (words of the first assessor)."


def _state(app, assessment_id):
    from lti_tool.assessment.models import Assessment
    from lti_tool.extensions import db

    with app.app_context():
        assessment = db.session.get(Assessment, assessment_id)
        return assessment.attempt.marking_status, assessment.decision


def _not_yet(app):
    return all_levels(app, "demonstrated", accurate_self_assessment="developing")


def test_double_blind_scorings_that_agree_are_ready_for_release_and_never_see_each_other(app, platform):
    set_microcredential(app, double_blind=True)
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first = launch_assessor(platform, "assessor")
    score(first, open_assessment(first, assessment_id), _not_yet(app),
          {"accurate_self_assessment": FIRST_FEEDBACK})
    assert _state(app, assessment_id) == ("inmarking", None)

    second = launch_assessor(platform, "assessor-2")
    assert "Needs a second, independent assessor" in second.queue.text
    page = open_assessment(second, assessment_id)
    assert page.status_code == 200
    assert FIRST_FEEDBACK not in page.text
    assert 'checked' not in page.text  # nothing of the first scoring pre-fills the second
    done = score(second, page, _not_yet(app), {"accurate_self_assessment": "Name the standard."})
    assert done.status_code == 200
    assert _state(app, assessment_id) == ("readyforrelease", "notyet")


def test_double_blind_disagreement_goes_to_a_third_assessor_who_sees_both_and_decides(app, platform):
    set_microcredential(app, double_blind=True)
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first = launch_assessor(platform, "assessor")
    score(first, open_assessment(first, assessment_id), _not_yet(app), {"accurate_self_assessment": FIRST_FEEDBACK})
    second = launch_assessor(platform, "assessor-2")
    score(second, open_assessment(second, assessment_id), all_levels(app, "demonstrated"))
    assert _state(app, assessment_id) == ("inmarking", None)

    again = open_assessment(first, assessment_id)  # the first assessor cannot take the third part
    assert "Needs a third assessor" not in again.text
    assert 'id="scoring-form"' not in again.text

    third = launch_assessor(platform, "assessor-3")
    assert "Needs a third assessor: the two decisions differ" in third.queue.text
    page = open_assessment(third, assessment_id)
    assert "The two independent scorings disagree" in page.text
    assert FIRST_FEEDBACK in page.text
    score(third, page, all_levels(app, "demonstrated"))
    assert _state(app, assessment_id) == ("readyforrelease", "earned")


def test_a_review_before_release_is_done_by_someone_else_and_may_adjust_the_scoring(app, platform):
    set_microcredential(app, review_before_release=True)
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first = launch_assessor(platform, "assessor")
    score(first, open_assessment(first, assessment_id), all_levels(app, "demonstrated"))
    assert _state(app, assessment_id) == ("readyforreview", "earned")
    with nothing_changes(app):
        assert release(first, assessment_id).status_code == 409  # not before the review

    own = open_assessment(first, assessment_id)
    assert 'id="scoring-form"' not in own.text  # the scorer cannot review their own scoring

    reviewer = launch_assessor(platform, "assessor-2")
    page = open_assessment(reviewer, assessment_id)
    assert _state(app, assessment_id)[0] == "inreview"
    assert "You are reviewing this decision" in page.text
    score(reviewer, page, _not_yet(app), {"accurate_self_assessment": "The ratings need evidence."})
    assert _state(app, assessment_id) == ("readyforrelease", "notyet")
    assert release(reviewer, assessment_id).status_code == 200
    assert _state(app, assessment_id)[0] == "released"


def test_a_resubmission_goes_back_to_the_assessor_of_the_previous_attempt(app, platform):
    from lti_tool.assessment.services import start_resubmission
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Enrollment

    submitted = submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first = launch_assessor(platform, "assessor")
    score(first, open_assessment(first, assessment_id), _not_yet(app), {"accurate_self_assessment": "More evidence."})
    release(first, assessment_id)
    with app.app_context():
        start_resubmission(db.session.scalar(db.select(Enrollment)))
        db.session.commit()
    page = submitted.browser.get(submitted.page.url.split("&")[0])
    fields = form_fields(page, "attempt-form")
    tool = page.url.split("/submission")[0]
    asked = submitted.browser.post(tool + "/submission/", data={
        "ltik": fields["ltik"], "attempt_id": fields["attempt_id"], "version": fields["version"],
        "action": "submit", "overview": "My revised goal and plan."})
    confirm = form_fields(asked)
    done = submitted.browser.post(tool + "/submission/", data={**confirm, "action": "confirm"})
    assert done.status_code == 200
    _, resubmitted_id = assessment_ids(app)

    other = launch_assessor(platform, "assessor-2")
    assert "Returned to the assessor of the previous attempt" in other.queue.text
    with nothing_changes(app):
        refused = open_assessment(other, resubmitted_id)
    assert refused.status_code == 409
    assert "goes back to the assessor of the previous attempt" in refused.text

    page = open_assessment(launch_assessor(platform, "assessor"), resubmitted_id)
    assert page.status_code == 200 and 'id="scoring-form"' in page.text
    assert "· attempt 2" in page.text


def test_an_admin_reassigns_a_claimed_submission_and_reads_the_audit_log(app, platform):
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first = launch_assessor(platform, "assessor")
    score(first, open_assessment(first, assessment_id), {"accurate_self_assessment": "developing"},
          {"accurate_self_assessment": "A first thought."}, action="save")
    launch_assessor(platform, "assessor-2")  # known to the tool as an assessor of the course

    admin = PlatformBrowser(platform)
    landing = admin.launch(person="admin", custom={"microcredential": SLUG})
    ltik = landing.ltik
    tool = landing.url.split("/", 3)[:3]
    tool = "/".join(tool)
    page = admin.get(f"{tool}/assessment/{assessment_id}", params={"ltik": ltik})
    assert page.status_code == 200 and 'id="scoring-form"' not in page.text  # admins see, never score
    assert "Dorothy Vaughan" in page.text  # a candidate for reassignment
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        second_id = db.session.scalar(db.select(LtiUser.id).where(LtiUser.sub == "user-assessor-2"))
    moved = admin.post(f"{tool}/assessment/{assessment_id}/reassign", data={"ltik": ltik, "assessor_id": second_id})
    assert moved.status_code == 200 and "Reassigned." in moved.text

    second = launch_assessor(platform, "assessor-2")
    continued = open_assessment(second, assessment_id)
    assert "A first thought." in continued.text  # the draft moved with the submission; nothing lost

    log = admin.get(f"{tool}/assessment/{assessment_id}/log", params={"ltik": ltik})
    assert log.status_code == 200
    for action in ("submitted", "claimed", "scoring saved", "reassigned"):
        assert f"<td>{action}</td>" in log.text
    assert "Ada" not in log.text and "Lovelace" not in log.text


def test_an_organization_assessor_granted_by_an_admin_assesses_in_every_course(app, platform):
    submit_work(platform, context_id="course-7", resource_link_id="activity-7")
    (assessment_id,) = assessment_ids(app)
    nobody = PlatformBrowser(platform).launch(person="org-assessor", custom={"microcredential": SLUG})
    assert nobody.status_code == 403  # no course role, no grant yet

    admin = PlatformBrowser(platform)
    landing = admin.launch(person="admin", custom={"microcredential": SLUG})
    tool = "/".join(landing.url.split("/", 3)[:3])
    page = admin.get(f"{tool}/assessment/assessors", params={"ltik": landing.ltik})
    people = dict((label.split(" (")[0], value) for value, label in
                  __import__("re").findall(r'<option value="(\d+)">([^<]+)</option>', page.text))
    from lti_tool.catalog.services import get_microcredential

    with app.app_context():
        mc_id = get_microcredential(SLUG).id
    granted = admin.post(f"{tool}/assessment/assessors", data={
        "ltik": landing.ltik, "user_id": people["Barbara Liskov"], "microcredential_id": mc_id, "action": "grant"})
    assert granted.status_code == 200 and "Organization assessor added." in granted.text

    org = launch_assessor(platform, "org-assessor", context_id="course-99")
    assert f'data-assessment-id="{assessment_id}"' in org.queue.text
    page = open_assessment(org, assessment_id)
    assert 'id="scoring-form"' in page.text
