"""A platform that refuses: the tool itself (401/403, retried until it accepts again) or progress-only scores (400,
learned per platform), through real HTTP against the independent test platform and the admins' outbox page."""

from __future__ import annotations

import time
from html import unescape
from urllib.parse import urljoin

import pytest

from lti_tool.extensions import db
from lti_tool.gradebook import worker
from lti_tool.gradebook.models import OutboxMessage
from lti_tool.gradebook.services import enqueue_score
from lti_tool.lti.models import LtiUser, Registration, ResourceLink
from tests.platform.browser import forms_in

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
SCORES = "/lineitems/course-1/Item"
FOREVER = 10**6  # failures injected "for a while": until the test calls stop_failing()
KEY_REFUSED = "invalid_client: no key of the tool's key set matches the assertion (the key was rotated)"
DISABLED = "The registration of this tool is disabled in this site"


def _draft(browser, person: str = "learner"):
    """The person opens the activity and saves a first draft: the tool queues InProgress/NotReady."""
    launch = browser.launch(person=person, custom={"microcredential": SLUG})
    assert launch.status_code == 200, launch.text[:500]
    form = forms_in(launch.text)[0]
    fields = {**form["fields"], "overview": f"Draft of {person}", "reflection": "", "collaboration": "no",
              "collaborators": "", "action": "save"}
    saved = browser.post(urljoin(launch.url, "/submission/"), data=fields)
    assert saved.status_code == 200, saved.text[:500]
    return launch


def _messages(app) -> list[OutboxMessage]:
    with app.app_context():
        messages = db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for message in messages:
            db.session.expunge(message)
        return messages


def _registration(app, platform) -> Registration:
    with app.app_context():
        registration = db.session.scalar(db.select(Registration).where(Registration.issuer == platform.issuer))
        db.session.expunge(registration)
        return registration


def _queue(app, sub: str, activity: str, grading: str, score_given: float | None = None) -> None:
    with app.app_context():
        link = db.session.scalar(db.select(ResourceLink))
        user = db.session.scalar(db.select(LtiUser).where(LtiUser.sub == sub))
        enqueue_score(link, user, activity, grading, score_given=score_given)
        db.session.commit()


def _run_until(app, condition, timeout: float = 15.0) -> None:
    """The worker's rounds, as `flask worker` runs them, until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.run_once(app)
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached: {[(m.id, m.status, m.last_error) for m in _messages(app)]}")


def _as_shown(app, moment, style: str = "short") -> str:
    """A time as the outbox page writes it: in the current term's zone (lti_tool.core.dates)."""
    from lti_tool.catalog.services import current_term
    from lti_tool.core.dates import local_datetime_label, zone_of

    with app.app_context():
        return local_datetime_label(moment, zone_of(current_term()), style)


def _zone_note(app) -> str:
    from lti_tool.catalog.services import current_term
    from lti_tool.core.dates import zone_note

    with app.app_context():
        return zone_note(current_term())


def _outbox_page(browser, live_tool, ltik: str):
    page = browser.get(f"{live_tool.url}/admin/outbox/", params={"ltik": ltik})
    assert page.status_code == 200, page.text[:500]
    return page


def test_a_platform_refusing_the_tool_is_retried_and_the_score_delivered_once_it_accepts(
        app, browser, platform, live_tool, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_BACKOFF_BASE_SECONDS", 0.3)
    services = platform.services
    admin = browser.launch(person="admin").ltik
    _draft(browser)
    services.fail_next("/token", status=401, count=FOREVER, message=KEY_REFUSED)

    assert worker.run_once(app) == 1
    [message] = _messages(app)
    assert (message.status, message.attempts, message.last_status_code) == ("pending", 1, 401)
    assert KEY_REFUSED in message.last_error
    assert services.scores_for() == []

    page = _outbox_page(browser, live_tool, admin)
    html = unescape(page.text)
    assert f'<tr id="message-{message.id}" data-status="retrying">' in page.text
    assert "retrying after HTTP 401" in html
    assert KEY_REFUSED in html
    assert _as_shown(app, message.next_attempt_at, "seconds") in html  # in the current term's zone, named once
    assert _zone_note(app) in html
    assert "Nothing has failed" in html
    assert '<td data-status="failed" class="">0</td>' in page.text

    # The platform's admin registers the new key; now the registration itself is switched off: 403 on the score.
    services.stop_failing()
    services.fail_next(SCORES, status=403, count=FOREVER, message=DISABLED)
    _run_until(app, lambda: _messages(app)[0].last_status_code == 403)
    [message] = _messages(app)
    assert message.status == "pending"
    assert DISABLED in message.last_error
    html = unescape(_outbox_page(browser, live_tool, admin).text)
    assert "retrying after HTTP 403" in html and DISABLED in html
    assert "Nothing has failed" in html

    # Switched on again: the worker delivers the score by itself, no admin action.
    tokens_before = len(services.token_requests)
    services.stop_failing()
    _run_until(app, lambda: _messages(app)[0].status == "sent")
    [score] = services.scores_for()
    assert (score["userId"], score["activityProgress"]) == ("user-learner-1", "InProgress")
    # The token the platform answered 403 with was dropped: the delivering attempt asked for a fresh one.
    assert len(services.token_requests) == tokens_before + 1
    html = unescape(_outbox_page(browser, live_tool, admin).text)
    assert 'data-status="retrying"' not in html
    assert '<td data-status="sent">1</td>' in html


def test_a_refusal_that_lasts_past_the_bound_fails_for_an_admin(app, browser, platform, live_tool, catalog,
                                                               monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_REFUSED_RETRY_SECONDS", 1.0)
    admin = browser.launch(person="admin").ltik
    _draft(browser)
    platform.services.fail_next("/token", status=401, count=FOREVER, message=KEY_REFUSED)

    _run_until(app, lambda: _messages(app)[0].status == "failed")

    [message] = _messages(app)
    assert message.attempts > 1  # retried meanwhile, far beyond what a plain 4xx gets (one attempt)
    assert "kept refusing the tool (HTTP 401)" in message.last_error
    assert KEY_REFUSED in message.last_error
    assert platform.services.scores_for() == []
    page = _outbox_page(browser, live_tool, admin)
    assert '<td data-status="failed" class="error">1</td>' in page.text
    assert "kept refusing the tool (HTTP 401)" in unescape(page.text)


def test_a_platform_refusing_progress_only_scores_is_learned_and_final_scores_still_go(
        app, browser, platform, live_tool, catalog):
    services = platform.services
    admin = browser.launch(person="admin").ltik
    _draft(browser)  # InProgress
    _queue(app, "user-learner-1", "Submitted", "PendingManual")  # waits in line behind the draft's score
    _queue(app, "user-learner-1", "Completed", "FullyGraded", score_given=1)  # the released decision
    services.refuse_progress_only = True

    assert worker.run_once(app) == 1  # the draft's score alone: the others wait in line behind it
    # Learned at the first refusal: the waiting progress-only score is declined there and then, unsent.
    assert [m.status for m in _messages(app)] == ["declined", "declined", "pending"]
    _run_until(app, lambda: _messages(app)[-1].status == "sent")

    draft, submitted, final = _messages(app)
    assert (draft.status, draft.last_status_code) == ("declined", 400)
    assert "scoreGiven and scoreMaximum are required" in draft.last_error
    assert submitted.status == "declined"  # never sent: the platform said it takes final scores only
    posted = [r.body["activityProgress"] for r in services.requests_to(SCORES, "POST")]
    assert posted == ["InProgress", "Completed"]
    [result] = services.results_for(next(iter(services.line_items))).values()
    assert (result["userId"], result["resultScore"]) == ("user-learner-1", 1)  # the final score, in the gradebook
    registration = _registration(app, platform)
    assert registration.progress_scores_refused_at is not None
    assert "scoreGiven and scoreMaximum are required" in registration.progress_scores_refusal

    # The next draft on this platform queues nothing.
    _draft(browser, "learner-2")
    assert len(_messages(app)) == 3

    page = _outbox_page(browser, live_tool, admin)
    html = unescape(page.text)
    assert "This LMS does not accept progress-only scores (its answer:" in html
    assert "scoreGiven and scoreMaximum are required" in html
    assert "only final scores are sent" in html
    assert '<td data-status="declined">2</td>' in page.text
    assert '<td data-status="failed" class="">0</td>' in page.text
    assert "Nothing has failed" in html

    # Only an admin of this platform may say the LMS takes them again; a learner's attempt changes nothing.
    learner = browser.launch(person="learner", custom={"microcredential": SLUG}).ltik
    refused = browser.post(f"{live_tool.url}/admin/outbox/progress-scores/resume", data={"ltik": learner},
                           allow_redirects=False)
    assert refused.status_code == 403
    assert _registration(app, platform).progress_scores_refused_at == registration.progress_scores_refused_at
    no_launch = browser.post(f"{live_tool.url}/admin/outbox/progress-scores/resume", allow_redirects=False)
    assert no_launch.status_code in (400, 401, 403)
    assert _registration(app, platform).progress_scores_refused_at == registration.progress_scores_refused_at

    [form] = [f for f in forms_in(page.text) if f["action"].endswith("/admin/outbox/progress-scores/resume")]
    resumed = browser.post(urljoin(page.url, form["action"]), data=form["fields"], allow_redirects=False)
    assert resumed.status_code == 302
    assert "ltik=" in resumed.headers["Location"] and resumed.headers["Location"].endswith("#progress-scores")
    registration = _registration(app, platform)
    assert (registration.progress_scores_refused_at, registration.progress_scores_refusal) == (None, None)
    assert "does not accept progress-only scores" not in _outbox_page(browser, live_tool, admin).text
    services.refuse_progress_only = False
    _queue(app, "user-learner-2", "Submitted", "PendingManual")
    _run_until(app, lambda: _messages(app)[-1].status == "sent")
    assert services.requests_to(SCORES, "POST")[-1].body["userId"] == "user-learner-2"


def test_a_final_score_refused_with_400_stays_a_failure(app, browser, platform, live_tool, catalog):
    browser.launch(person="learner", custom={"microcredential": SLUG})
    _queue(app, "user-learner-1", "Completed", "FullyGraded", score_given=1)
    platform.services.fail_next(SCORES, status=400, message="The user is not enrolled")

    _run_until(app, lambda: _messages(app)[0].status == "failed")

    assert _registration(app, platform).progress_scores_refused_at is None
    assert "The user is not enrolled" in _messages(app)[0].last_error


def test_a_progress_only_score_queued_while_the_refusal_was_learned_is_declined_unsent(app, browser, platform,
                                                                                       catalog):
    from lti_tool.gradebook.models import OutboxStatus
    from lti_tool.lti import ags

    _draft(browser)
    platform.services.refuse_progress_only = True
    _run_until(app, lambda: _messages(app)[0].status == "declined")
    # A request that read the registration just before the worker learned the refusal queued one more.
    with app.app_context():
        link = db.session.scalar(db.select(ResourceLink))
        user = db.session.scalar(db.select(LtiUser).where(LtiUser.sub == "user-learner-1"))
        db.session.add(OutboxMessage(registration_id=link.context.deployment.registration_id, resource_link_id=link.id,
                                     line_item_id=link.line_item.id if link.line_item else None, user_id=user.id,
                                     payload=ags.build_score(user.sub, "Submitted", "PendingManual"),
                                     status=OutboxStatus.PENDING.value))
        db.session.commit()

    assert worker.run_once(app) == 1

    assert [m.status for m in _messages(app)] == ["declined", "declined"]
    assert len(platform.services.requests_to(SCORES, "POST")) == 1  # the first draft's only


# -- a 400 about one learner is not a platform's refusal of progress-only scores ------------------------------------

LMS_SCORES = "/lineitems/Course-1/Item"  # the course of tests.factories.make_course


def _state(message_id: int) -> tuple[str, int | None]:
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message_id)
    db.session.commit()
    return message.status, message.last_status_code


def _refused_at(registration_id: int):
    db.session.expire_all()
    value = db.session.get(Registration, registration_id).progress_scores_refused_at
    db.session.commit()
    return value


@pytest.mark.parametrize(("status", "answer"), [
    (400, "User not found in course or is not a student"),  # Canvas, for a learner who left the course
    (422, "The user is not enrolled in this section"),
])
def test_one_learners_refused_draft_leaves_progress_scores_on_for_everyone_else(app_context, lms, status, answer):
    from tests.factories import make_course

    link, (dropped, other) = make_course(lms)
    registration_id = link.context.deployment.registration_id
    [refused] = enqueue_score(link, dropped, "InProgress", "NotReady")
    db.session.commit()
    refused_id = refused.id
    lms.fail_next(LMS_SCORES, status=status, message=answer)

    assert worker.run_once(app_context) == 1

    assert _state(refused_id) == ("failed", status)  # an ordinary failure of that one message, shown to admins
    assert answer in db.session.get(OutboxMessage, refused_id).last_error
    assert _refused_at(registration_id) is None  # the platform's setting is left alone
    [queued] = enqueue_score(link, other, "InProgress", "NotReady")  # the other learner's draft is still queued
    db.session.commit()
    queued_id = queued.id
    assert worker.run_once(app_context) == 1
    assert _state(queued_id) == ("sent", None)
    assert [(s["userId"], s["activityProgress"]) for s in lms.scores_for()] == [(other.sub, "InProgress")]


@pytest.mark.parametrize("answer", [
    "Invalid score: scoreGiven and scoreMaximum are required",
    '{"errors": {"score_given": ["is missing"]}}',
    "SCOREMAXIMUM must be given",
])
def test_a_refusal_naming_the_score_fields_is_learned_for_the_platform(app_context, lms, answer):
    from tests.factories import make_course

    link, (person, other) = make_course(lms)
    registration_id = link.context.deployment.registration_id
    [refused] = enqueue_score(link, person, "InProgress", "NotReady")
    [waiting] = enqueue_score(link, other, "Submitted", "PendingManual")
    db.session.commit()
    ids = refused.id, waiting.id
    lms.fail_next(LMS_SCORES, status=400, message=answer)

    worker.run_once(app_context, limit=1)

    assert [_state(i)[0] for i in ids] == ["declined", "declined"]
    assert _refused_at(registration_id) is not None
    assert enqueue_score(link, other, "InProgress", "NotReady") == []


@pytest.mark.parametrize("refusing", ["/token", LMS_SCORES])
def test_a_refusing_platform_is_asked_once_per_round_not_once_per_waiting_score(app_context, lms, refusing):
    """20 scores waiting for a platform that refuses the tool (its token endpoint, or its score service even with a
    fresh token): the round asks once, and every score is put back with its backoff, none failed."""
    from tests.factories import make_course

    link, people = make_course(lms, users=20)
    for person in people:
        enqueue_score(link, person, "InProgress", "NotReady")
    db.session.commit()
    lms.fail_next(refusing, status=401, count=FOREVER, message=KEY_REFUSED)

    assert worker.run_once(app_context) == 20

    db.session.expire_all()
    messages = db.session.scalars(db.select(OutboxMessage)).all()
    assert {(m.status, m.attempts, m.last_status_code) for m in messages} == {("pending", 1, 401)}
    assert all(KEY_REFUSED in m.last_error for m in messages)
    assert lms.requests_count("/token") <= 2
    assert lms.requests_count("/scores") <= 2
    assert lms.scores_for() == []


def test_an_admins_retry_restarts_the_window_of_retries_for_a_refusing_platform(app, browser, platform, live_tool,
                                                                                catalog):
    """A score failed after the platform refused the tool for days; the admin fixes the key and presses Retry, the
    platform still refuses at first (the change takes a while): the score is retried again, days more."""
    from datetime import timedelta

    from sqlalchemy import update

    from lti_tool.core.models import utcnow
    from lti_tool.gradebook.services import refusal_deadline

    services = platform.services
    admin = browser.launch(person="admin").ltik
    _draft(browser)
    [message] = _messages(app)
    long_ago = utcnow() - timedelta(days=5)
    with app.app_context():  # as the worker left it after three days of 401s
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id).values(
            status="failed", attempts=80, last_status_code=401, created_at=long_ago,
            next_attempt_at=long_ago + timedelta(days=3),
            last_error="The LMS kept refusing the tool (HTTP 401) for 3 day(s) of retries: not trying again."))
        db.session.commit()
    page = _outbox_page(browser, live_tool, admin)
    [form] = [f for f in forms_in(page.text) if f["action"].endswith(f"/admin/outbox/{message.id}/retry")]
    assert browser.post(urljoin(page.url, form["action"]), data=form["fields"],
                        allow_redirects=False).status_code == 302
    services.fail_next("/token", status=401, count=FOREVER, message=KEY_REFUSED)

    assert worker.run_once(app) == 1

    [message] = _messages(app)
    assert (message.status, message.attempts, message.last_status_code) == ("pending", 1, 401)  # retried, not failed
    with app.app_context():
        deadline = refusal_deadline(message)
    assert deadline > utcnow() + timedelta(days=2.9)
    html = unescape(_outbox_page(browser, live_tool, admin).text)
    assert f'<tr id="message-{message.id}" data-status="retrying">' in html
    assert f"tried until\n          {_as_shown(app, deadline)}, then it waits for you here" in html
