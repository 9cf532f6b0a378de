"""The authorization matrix of assessment: every page and action × every duty, asserted one by one.

Each case starts from the same world — an educator ("learner", Ada Lovelace) submitted in course-1 of the test
platform — then one person acts once, over real HTTP, and the tool's answer must be the status in the table:
200/303 allowed, 403 refused by duty (or no valid launch), 404 not in their queue, 400/409 where the action is
theirs but the thing asked for is not. Every refusal must be a clear page, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.assessment_road import SLUG, all_levels, assessment_ids, form_fields, submit_work
from tests.platform.browser import PlatformBrowser
from tests.platform.platform import (
    INSTRUCTOR_SUB_ROLE,
    PEOPLE,
    ROLES,
    SUBMISSION_REVIEW_REQUEST,
    Person,
    TestPlatform,
)

pytestmark = pytest.mark.usefixtures("running_term")

# An assessor of another course only: a person of their own, so that no course-1 membership makes them in scope.
OTHER_COURSE_ASSESSOR = "assessor-course-2"


@pytest.fixture(autouse=True)
def _other_course_assessor(monkeypatch):
    monkeypatch.setitem(PEOPLE, OTHER_COURSE_ASSESSOR,
                        Person("user-assessor-course-2", "Hedy", "Lamarr", "hedy.lamarr@school.example"))
    monkeypatch.setitem(ROLES, OTHER_COURSE_ASSESSOR, [INSTRUCTOR_SUB_ROLE + "TeachingAssistant"])


# -- who ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Duty:
    """How a person reaches the tool: who they are on which platform and course, and what was set up first."""

    person: str | None
    platform: str = "main"  # or "other"
    context_id: str = "course-1"
    resource_link_id: str = "activity-1"
    instructors_may_assess: bool = False
    granted: bool = False  # made an organization assessor by an admin, through the assessors page
    forged: bool = False


DUTIES = {
    "educator": Duty("learner"),
    "other-educator": Duty("learner-2"),
    "instructor": Duty("instructor"),
    "instructor-may-assess": Duty("instructor", instructors_may_assess=True),
    "assessor": Duty("assessor"),
    "assessor-2": Duty("assessor-2"),
    "assessor-3": Duty("assessor-3"),
    "org-assessor": Duty("org-assessor", granted=True),
    "org-assessor-ungranted": Duty("org-assessor"),
    "admin": Duty("admin"),
    "admin-may-assess": Duty("admin", instructors_may_assess=True),
    "course-2-assessor": Duty(OTHER_COURSE_ASSESSOR, context_id="course-2", resource_link_id="activity-2"),
    "other-platform-assessor": Duty("assessor", platform="other"),
    "other-platform-admin": Duty("admin", platform="other"),
    "no-launch": Duty(None),
    "forged-ltik": Duty("learner", forged=True),  # the educator's own reference, every duty added
}


@dataclass
class Actor:
    browser: PlatformBrowser
    ltik: str | None
    tool: str


def _ltik_of(url: str) -> str | None:
    return (parse_qs(urlsplit(url).query).get("ltik") or [None])[0]


def _forge(app, ltik: str) -> str:
    """A real launch reference with every duty added, signed with a key that is not the tool's."""
    _, payload = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="lti-launch-reference").loads_unsafe(ltik)
    payload["k"] = ["instructor", "assessor", "educator", "admin"]
    return URLSafeTimedSerializer("a-guessed-secret", salt="lti-launch-reference").dumps(payload)


@dataclass
class World:
    """One educator's submitted work in course-1, and the people around it."""

    app: object
    platform: TestPlatform
    other: TestPlatform
    submitted: object = None
    assessment_id: int = 0
    artifact_id: int = 0
    attempt_id: int = 0
    _actors: dict = field(default_factory=dict)

    @property
    def tool(self) -> str:
        return self.platform.tool_origin

    def launch(self, person: str, *, platform: str = "main", context_id: str = "course-1",
               resource_link_id: str = "activity-1", **plan) -> Actor:
        """A launch as the LMS drives it, stopped at the tool's first answer: its launch reference."""
        lms = self.other if platform == "other" else self.platform
        browser = PlatformBrowser(lms)
        login, _ = lms.next_launch(person=person, custom={"microcredential": SLUG}, context_id=context_id,
                                   resource_link_id=resource_link_id, **plan)
        id_token, state = browser.authorize(browser.start_login(login))
        answer = browser.post_launch(id_token, state, follow=False)
        assert answer.status_code == 303, answer.text[:500]
        return Actor(browser, _ltik_of(answer.headers["Location"]), self.tool)

    def actor(self, duty: Duty) -> Actor:
        if duty.instructors_may_assess:
            self.set_microcredential(instructors_may_assess=True)
        if duty.person is None:
            return Actor(PlatformBrowser(self.platform), None, self.tool)
        if duty.forged:
            return Actor(PlatformBrowser(self.platform), _forge(self.app, self.submitted.ltik), self.tool)
        if duty.granted:
            self.launch(duty.person)  # once, so that the admin can find them in the list
            self.grant(duty.person)
        actor = self.launch(duty.person, platform=duty.platform, context_id=duty.context_id,
                            resource_link_id=duty.resource_link_id)
        if duty.forged:
            actor.ltik = _forge(self.app, actor.ltik)
        return actor

    def set_microcredential(self, **values) -> None:
        from lti_tool.catalog.models import MicroCredential
        from lti_tool.extensions import db

        with self.app.app_context():
            microcredential = db.session.scalar(db.select(MicroCredential).where(MicroCredential.slug == SLUG))
            for name, value in values.items():
                setattr(microcredential, name, value)
            db.session.commit()

    def user_id(self, person: str) -> int:
        from lti_tool.extensions import db
        from lti_tool.lti.models import LtiUser, Registration

        with self.app.app_context():
            return db.session.scalar(db.select(LtiUser.id).join(Registration).where(
                LtiUser.sub == PEOPLE[person].sub, Registration.issuer == self.platform.issuer))

    def grant(self, person: str) -> None:
        """An admin makes `person` an organization assessor of the micro-credential on the assessors page."""
        admin = self.launch("admin")
        page = admin.browser.get(f"{self.tool}/assessment/assessors", params={"ltik": admin.ltik})
        assert page.status_code == 200, page.text[:500]
        user_id = re.search(rf'<option value="(\d+)">{PEOPLE[person].name}', page.text).group(1)
        microcredential_id = re.search(r'<option value="(\d+)">Educator Self-Assessment', page.text).group(1)
        granted = admin.browser.post(f"{self.tool}/assessment/assessors", allow_redirects=False, data={
            "ltik": admin.ltik, "action": "grant", "user_id": user_id, "microcredential_id": microcredential_id})
        assert granted.status_code == 303, granted.text[:500]

    # -- the states an action needs ---------------------------------------------------------------
    def scoring_fields(self, actor: Actor) -> dict:
        """The actor's own scoring form when opening the page gives them one; else the form of a holder's claim."""
        if actor.ltik:
            page = actor.browser.get(f"{self.tool}/assessment/{self.assessment_id}", params={"ltik": actor.ltik})
            if 'id="scoring-form"' in page.text:
                return form_fields(page, "scoring-form")
        holder = self.launch("assessor-3")
        page = holder.browser.get(f"{self.tool}/assessment/{self.assessment_id}", params={"ltik": holder.ltik})
        fields = form_fields(page, "scoring-form")
        return {"scoring_id": fields["scoring_id"], "version": fields["version"]}

    def decide(self, level: str = "demonstrated", *, released: bool = False) -> None:
        """The course's teaching assistant scores the work (and releases the decision)."""
        scorer = self.launch("assessor")
        url = f"{self.tool}/assessment/{self.assessment_id}"
        fields = form_fields(scorer.browser.get(url, params={"ltik": scorer.ltik}), "scoring-form")
        data = {**fields, "action": "complete"}
        for key, value in all_levels(self.app, level).items():
            data[f"level-{key}"] = value
            data[f"feedback-{key}"] = "Name the evidence for this criterion."
        done = scorer.browser.post(url, data=data, allow_redirects=False)
        assert done.status_code == 303, done.text[:500]
        if released:
            out = scorer.browser.post(url, data={"ltik": scorer.ltik, "action": "release"}, allow_redirects=False)
            assert out.status_code == 303, out.text[:500]

    def line_item(self, duty: Duty) -> str:
        """The gradebook column a Submission Review launch comes from (Submission Review 1.0 requires it)."""
        if duty.platform == "other" or duty.context_id != "course-1":
            lms = self.other if duty.platform == "other" else self.platform
            return lms.services.add_line_item(duty.context_id, label="Micro-credential", scoreMaximum=1.0,
                                              resourceLinkId=duty.resource_link_id)["id"]
        from lti_tool.gradebook.worker import run_once

        while run_once(self.app):  # the tool creates the activity's line item with its first score
            pass
        (item_id,) = self.platform.services.line_items
        return item_id

    def reviewer(self, duty: Duty) -> Actor:
        """The person after a Submission Review launch about the educator: their browser and launch reference."""
        if duty.person is None:
            return Actor(PlatformBrowser(self.platform), None, self.tool)
        if duty.instructors_may_assess:
            self.set_microcredential(instructors_may_assess=True)
        if duty.granted:
            self.launch(duty.person)
            self.grant(duty.person)
        actor = self.launch(duty.person, platform=duty.platform, context_id=duty.context_id,
                            resource_link_id=duty.resource_link_id, message_type=SUBMISSION_REVIEW_REQUEST,
                            for_user="learner", lineitem=self.line_item(duty))
        if duty.forged:
            actor.ltik = _forge(self.app, actor.ltik)
        return actor


@pytest.fixture
def world(app, platform, other_platform):
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt

    submitted = submit_work(platform, file_name="Ada-Lovelace-lesson-plan.pdf")
    (assessment_id,) = assessment_ids(app)
    with app.app_context():
        attempt = db.session.get(Attempt, submitted.attempt_id)
        artifact_id = next(a.id for a in attempt.artifacts if a.is_file)
    return World(app, platform, other_platform, submitted, assessment_id, artifact_id, submitted.attempt_id)


# -- what ------------------------------------------------------------------------------------------------------
def _get(world: World, actor: Actor, path: str, **params):
    if actor.ltik is not None:
        params["ltik"] = actor.ltik
    return actor.browser.get(world.tool + path, params=params, allow_redirects=False)


def _post(world: World, actor: Actor, path: str, data: dict):
    if actor.ltik is not None:
        data = {"ltik": actor.ltik, **data}
    return actor.browser.post(world.tool + path, data=data, allow_redirects=False)


def queue(world, duty):
    return _get(world, world.actor(duty), "/assessment/")


def scoring_page(world, duty):
    return _get(world, world.actor(duty), f"/assessment/{world.assessment_id}")


def save(world, duty):
    actor = world.actor(duty)
    fields = world.scoring_fields(actor)
    return _post(world, actor, f"/assessment/{world.assessment_id}", {
        "scoring_id": fields["scoring_id"], "version": fields["version"], "action": "save",
        "feedback-accurate_self_assessment": "A draft."})


def complete(world, duty):
    actor = world.actor(duty)
    fields = world.scoring_fields(actor)
    data = {"scoring_id": fields["scoring_id"], "version": fields["version"], "action": "complete"}
    data.update({f"level-{k}": v for k, v in all_levels(world.app, "demonstrated").items()})
    return _post(world, actor, f"/assessment/{world.assessment_id}", data)


def autosave(world, duty):
    actor = world.actor(duty)
    fields = world.scoring_fields(actor)
    return _post(world, actor, f"/assessment/{world.assessment_id}/autosave", {
        "scoring_id": fields["scoring_id"], "version": fields["version"],
        "feedback-accurate_self_assessment": "A draft."})


def release(world, duty):
    world.decide()
    return _post(world, world.actor(duty), f"/assessment/{world.assessment_id}", {"action": "release"})


def bulk_release(world, duty):
    world.decide()
    return _post(world, world.actor(duty), "/assessment/release", {"assessment_id": str(world.assessment_id)})


def _file_link(world, duty, attribute: str):
    """The file as the scoring page links it (files are read only through the links a page issues to its reader);
    where the page is refused, that refusal."""
    actor = world.actor(duty)
    page = _get(world, actor, f"/assessment/{world.assessment_id}")
    if page.status_code != 200:
        return page
    (url,) = {u.replace("&amp;", "&") for u in re.findall(rf'{attribute}="(/files/{world.artifact_id}\?t=[^"]+)"',
                                                       page.text)}
    return actor.browser.get(world.tool + url, allow_redirects=False)


def file_inline(world, duty):
    return _file_link(world, duty, "src")


def file_download(world, duty):
    return _file_link(world, duty, "href")


def reassign(world, duty):
    world.launch("assessor")  # the course's TA is known to the tool: a candidate for reassignment
    actor = world.actor(duty)
    return _post(world, actor, f"/assessment/{world.assessment_id}/reassign",
                 {"assessor_id": str(world.user_id("assessor"))})


def audit_log(world, duty):
    return _get(world, world.actor(duty), f"/assessment/{world.assessment_id}/log")


def assessors_page(world, duty):
    return _get(world, world.actor(duty), "/assessment/assessors")


def grant(world, duty):
    from lti_tool.catalog.services import get_microcredential

    with world.app.app_context():
        microcredential_id = get_microcredential(SLUG).id
    world.launch("assessor")  # known to the tool: a person an admin can choose
    return _post(world, world.actor(duty), "/assessment/assessors", {
        "action": "grant", "user_id": str(world.user_id("assessor")), "microcredential_id": str(microcredential_id)})


def resubmit(world, duty):
    world.decide("developing", released=True)
    return _post(world, world.actor(duty), "/submission/resubmit",
                 {"action": "resubmit", "attempt_id": str(world.attempt_id)})


def submission_review(world, duty):
    world.decide()
    actor = world.reviewer(duty)
    return _get(world, actor, "/submission-review/")


def allow_resubmission(world, duty):
    world.set_microcredential(reopen_rule="manual")
    world.decide("developing", released=True)
    actor = world.reviewer(duty)
    return _post(world, actor, "/submission-review/allow-resubmission", {})


ACTIONS = {f.__name__.replace("_", "-"): f for f in (
    queue, scoring_page, save, complete, autosave, release, bulk_release, file_inline, file_download, reassign,
    audit_log, assessors_page, grant, resubmit, submission_review, allow_resubmission)}

# -- the matrix ------------------------------------------------------------------------------------------------
SCORERS = ("assessor", "assessor-2", "assessor-3", "org-assessor", "instructor-may-assess")
ADMINS = ("admin", "admin-may-assess")
NO_DUTY = ("educator", "other-educator", "instructor", "org-assessor-ungranted", "no-launch", "forged-ltik")
ELSEWHERE = ("course-2-assessor", "other-platform-assessor", "other-platform-admin")


def _row(scorers: int, admins: int, no_duty: int, elsewhere: int | dict, **exceptions: int) -> dict[str, int]:
    row = {who: scorers for who in SCORERS}
    row.update({who: admins for who in ADMINS})
    row.update({who: no_duty for who in NO_DUTY})
    row.update({who: elsewhere for who in ELSEWHERE} if isinstance(elsewhere, int) else elsewhere)
    row.update({who.replace("_", "-"): status for who, status in exceptions.items()})
    return row


MATRIX = {
    # Assessors of other courses and platforms have a queue of their own, without this submission.
    "queue": _row(200, 200, 403, 200),
    "scoring-page": _row(200, 200, 403, 404),
    "save": _row(303, 403, 403, 404),
    "complete": _row(303, 403, 403, 404),
    "autosave": _row(200, 403, 403, 404),
    "release": _row(303, 303, 403, 404),
    # A bulk release names what it skipped: "not in your queue", and nothing released is a 409.
    "bulk-release": _row(303, 303, 403, 409),
    "file-inline": _row(200, 200, 403, 404),
    "file-download": _row(200, 200, 403, 404),
    "reassign": _row(403, 303, 403, {"course-2-assessor": 403, "other-platform-assessor": 403,
                                     "other-platform-admin": 404}),
    "audit-log": _row(403, 200, 403, {"course-2-assessor": 403, "other-platform-assessor": 403,
                                      "other-platform-admin": 404}),
    "assessors-page": _row(403, 200, 403, {"course-2-assessor": 403, "other-platform-assessor": 403,
                                           "other-platform-admin": 200}),
    # The other platform's admin may use the page, but never for a person of another platform.
    "grant": _row(403, 303, 403, {"course-2-assessor": 403, "other-platform-assessor": 403,
                                  "other-platform-admin": 400}),
    # Only the educator starts their own resubmission; another educator's attempt "does not exist" for them.
    "resubmit": _row(403, 403, 403, 403, educator=303, other_educator=404),
    # Submission Review: instructors see the review (200), assessors go to the blind scoring page (303), the
    # educator to their own page (303); another course's or platform's gradebook names nothing submitted there.
    "submission-review": _row(303, 200, 403, {"course-2-assessor": 404, "other-platform-assessor": 404,
                                              "other-platform-admin": 200},
                              instructor=200, instructor_may_assess=200, educator=303),
    # Only the course's instructors allow a resubmission (the `manual` rule); the other platform's person has
    # no assessment, so there is nothing to allow.
    "allow-resubmission": _row(403, 303, 403, {"course-2-assessor": 403, "other-platform-assessor": 403,
                                               "other-platform-admin": 400},
                               instructor=303, instructor_may_assess=303),
}

CASES = [
    pytest.param(who, action, status, id=f"{action}-by-{who}")
    for action, row in MATRIX.items() for who, status in row.items()
]


def test_the_matrix_covers_every_page_and_every_duty():
    assert set(MATRIX) == set(ACTIONS)
    for action, row in MATRIX.items():
        assert set(row) == set(DUTIES), action


# The educator's and the reviewer's pages, as their blueprints name them.
ENDPOINTS = {"resubmit": "feedback.resubmit", "submission-review": "submission_review.index",
             "allow-resubmission": "submission_review.allow"}


@pytest.mark.parametrize(("who", "action", "expected"), CASES)
def test_authorization(app, world, who, action, expected):
    if action in ENDPOINTS and ENDPOINTS[action] not in app.view_functions:
        pytest.skip(f"{ENDPOINTS[action]} is not mounted in this build")
    response = ACTIONS[action](world, DUTIES[who])

    assert response.status_code == expected, (response.status_code, response.text[:600])
    if expected in (400, 403, 404, 409):
        if response.headers.get("Content-Type", "").startswith("application/json"):
            assert response.json()["message"]
        else:
            assert "<h1>" in response.text and 'role="alert"' in response.text, response.text[:600]
            assert "Something went wrong" not in response.text
    if action == "queue" and expected == 200:
        shown = f'data-assessment-id="{world.assessment_id}"' in response.text
        assert shown == (who in SCORERS + ADMINS)
    if action == "submission-review" and expected == 303:
        target = "/submission/" if who == "educator" else f"/assessment/{world.assessment_id}"
        assert urlsplit(response.headers["Location"]).path.startswith(target)


def test_an_admin_opening_the_scoring_page_never_claims_it(world):
    """Admins see the whole platform but never score, even where instructors may assess."""
    world.set_microcredential(instructors_may_assess=True)
    admin = world.launch("admin")
    page = _get(world, admin, f"/assessment/{world.assessment_id}")
    assert page.status_code == 200
    assert 'id="scoring-form"' not in page.text
    assert "Not marked" in page.text


def test_a_file_link_from_the_scoring_page_ends_with_the_readers_right(world):
    """A file link names why its reader may read the file; that is checked again when it is opened: an
    organization assessor whose grant an admin revokes opens nothing more with the links they were given."""
    from lti_tool.assessment.models import AssessorGrant
    from lti_tool.assessment.services import revoke_assessor
    from lti_tool.extensions import db

    world.launch("admin")
    assessor = world.actor(DUTIES["org-assessor"])
    page = _get(world, assessor, f"/assessment/{world.assessment_id}")
    assert page.status_code == 200, page.text[:300]
    (link,) = {u.replace("&amp;", "&") for u in re.findall(r'<a href="(/files/\d+\?t=[^"]+)"', page.text)}
    assert assessor.browser.get(world.tool + link).status_code == 200
    with world.app.app_context():
        grant = db.session.scalar(db.select(AssessorGrant).where(AssessorGrant.is_active.is_(True)))
        revoke_assessor(grant, world.user_id("admin"))
        db.session.commit()
    assert assessor.browser.get(world.tool + link).status_code == 404
