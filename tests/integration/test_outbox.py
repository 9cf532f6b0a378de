"""The grade outbox through real HTTP against the test platform's AGS: failures, retries, order, restarts."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask import g
from werkzeug.serving import make_server

from lti_tool.core.http import lms_session
from lti_tool.extensions import db
from lti_tool.gradebook import worker
from lti_tool.gradebook.models import OutboxMessage, OutboxStatus
from lti_tool.gradebook.services import enqueue_score
from lti_tool.lti.launch_context import LaunchContext, issue_launch_token
from lti_tool.lti.models import Deployment, LineItem, LtiUser, Registration
from tests.conftest import LiveServer
from tests.factories import make_course
from tests.platform.lms_services import create_services_app

COURSE = "Course-1"
SCORES = f"/lineitems/{COURSE}/Item"


def message_states() -> list[tuple[int, str, int]]:
    db.session.expire_all()
    return [
        (m.id, m.status, m.attempts) for m in db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id))
    ]


def drain(app, timeout: float = 15.0) -> None:
    """Run the worker until nothing is pending or being sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.run_once(app)
        db.session.expire_all()
        unsent = db.session.scalar(
            db.select(db.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]))
        )
        if not unsent:
            return
        time.sleep(0.02)
    raise AssertionError(f"outbox not drained: {message_states()}")


def test_a_score_reaches_the_lms_with_every_field(app_context, lms):
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Completed", "FullyGraded", score_given=8, comment="Met all criteria")
    db.session.commit()

    assert worker.run_once(app_context) == 1

    [score] = lms.scores_for()
    assert score["userId"] == "User-0"
    assert score["scoreGiven"] == 8
    assert score["scoreMaximum"] == 10.0
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    assert score["comment"] == "Met all criteria"
    assert datetime.fromisoformat(score["timestamp"]) <= datetime.now(UTC)
    [(_, status, attempts)] = message_states()
    assert (status, attempts) == ("sent", 1)
    [request] = lms.requests_to(SCORES, "POST")
    assert request.status == 204


def test_enqueue_writes_nothing_until_the_caller_commits(app_context, lms):
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Submitted", "PendingManual")
    db.session.rollback()

    assert worker.run_once(app_context) == 0
    assert message_states() == []
    assert lms.scores_for() == []


def test_503_is_retried_with_growing_backoff_and_sent_once(app_context, lms, monkeypatch):
    monkeypatch.setitem(app_context.config, "OUTBOX_BACKOFF_BASE_SECONDS", 0.4)  # long enough to observe
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Submitted", "PendingManual")
    db.session.commit()
    lms.fail_next(SCORES, status=503, count=2)

    delays = []
    for _ in range(2):
        assert worker.run_once(app_context) == 1
        after = datetime.now(UTC)
        message = db.session.scalars(db.select(OutboxMessage)).one()
        db.session.refresh(message)
        assert message.status == "pending"
        assert "503" in message.last_error
        delays.append((message.next_attempt_at - after).total_seconds())
        assert worker.run_once(app_context) == 0  # not due yet
        time.sleep(max(delays[-1], 0) + 0.02)

    assert delays[1] > delays[0] * 1.5  # base * 2^attempts
    assert worker.run_once(app_context) == 1
    assert [(s, a) for _, s, a in message_states()] == [("sent", 3)]
    assert len(lms.scores_for()) == 1
    assert [r.status for r in lms.requests_to(SCORES, "POST")] == [503, 503, 204]


def test_429_is_retried(app_context, lms):
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Started", "NotReady")
    db.session.commit()
    lms.fail_next(SCORES, status=429)

    drain(app_context)

    assert len(lms.scores_for()) == 1


def test_a_timeout_is_retried_and_the_score_sent_once(app_context, lms, monkeypatch):
    session = lms_session()
    monkeypatch.setattr(session, "default_timeout", (2, 0.5))  # quicker than the testing (2, 5)
    lms.timeout_seconds = 1.5
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Completed", "FullyGraded", score_given=7)
    db.session.commit()
    lms.fail_next(SCORES, status="timeout")

    assert worker.run_once(app_context) == 1
    message = db.session.scalars(db.select(OutboxMessage)).one()
    assert message.status == "pending"
    assert "timed out" in message.last_error

    drain(app_context)

    assert len(lms.scores_for()) == 1
    assert [(s, a) for _, s, a in message_states()] == [("sent", 2)]


def as_new_request(client):
    """The test's app context is shared with the client's requests: forget the previous request's launch."""
    g.pop("lti_launch", None)
    g.pop("ltik", None)
    return client


def admin_ltik(registration_id: int, user: LtiUser, *, duties=("admin",)) -> str:
    deployment = db.session.scalar(db.select(Deployment).where(Deployment.registration_id == registration_id))
    return issue_launch_token(
        LaunchContext(
            launch_id="launch-1",
            user_id=user.id,
            deployment_id=deployment.id,
            context_id=None,
            resource_link_id=None,
            duties=duties,
        )
    )


def test_a_400_fails_at_once_and_admins_see_the_lms_message(app_context, client, lms):
    link, (person, admin) = make_course(lms)
    enqueue_score(link, person, "Completed", "FullyGraded", score_given=9, comment="Well done")
    db.session.commit()
    lms.fail_next(SCORES, status=400, message="User-0 is not enrolled in Course-1")

    assert worker.run_once(app_context) == 1
    [(message_id, status, attempts)] = message_states()
    assert (status, attempts) == ("failed", 1)
    time.sleep(0.1)
    assert worker.run_once(app_context) == 0  # no retry after a 4xx
    assert lms.scores_for() == []

    ltik = admin_ltik(link.context.deployment.registration_id, admin)
    page = as_new_request(client).get("/admin/outbox/", query_string={"ltik": ltik})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "User-0 is not enrolled in Course-1" in html
    assert "HTTP 400" in html
    assert '<td data-status="failed" class="error">1</td>' in html

    learner = admin_ltik(link.context.deployment.registration_id, person, duties=("educator",))
    assert as_new_request(client).get("/admin/outbox/", query_string={"ltik": learner}).status_code == 403
    assert as_new_request(client).post(f"/admin/outbox/{message_id}/retry", data={"ltik": learner}).status_code == 403

    response = as_new_request(client).post(f"/admin/outbox/{message_id}/retry", data={"ltik": ltik})
    assert response.status_code == 302
    assert "ltik=" in response.headers["Location"]
    drain(app_context)
    assert len(lms.scores_for()) == 1
    assert [(s, a) for _, s, a in message_states()] == [("sent", 1)]
    page = as_new_request(client).get("/admin/outbox/", query_string={"ltik": ltik}).get_data(as_text=True)
    assert "Nothing has failed" in page


def test_the_outbox_page_shows_only_the_admins_platform(app_context, client, lms):
    link, (person, admin) = make_course(lms)
    other = Registration(
        name="Other LMS",
        issuer="https://other.example",
        client_id="other",
        auth_login_url="https://other.example/a",
        auth_token_url="https://other.example/t",
    )
    other_deployment = Deployment(registration=other, deployment_id="d")
    other_admin = LtiUser(registration=other, sub="admin")
    db.session.add_all([other, other_deployment, other_admin])
    enqueue_score(link, person, "Completed", "FullyGraded", score_given=9)
    db.session.commit()
    lms.fail_next(SCORES, status=422, message="Secret detail of platform one")
    worker.run_once(app_context)

    ltik = admin_ltik(other.id, other_admin)
    html = as_new_request(client).get("/admin/outbox/", query_string={"ltik": ltik}).get_data(as_text=True)
    assert "Secret detail" not in html
    message_id = message_states()[0][0]
    assert as_new_request(client).post(f"/admin/outbox/{message_id}/retry", data={"ltik": ltik}).status_code == 404


def test_order_per_user_and_line_item_survives_a_transient_failure(app_context, lms):
    link, (first, second) = make_course(lms)
    for progress in (("InProgress", "NotReady"), ("Submitted", "PendingManual"), ("Completed", "FullyGraded")):
        enqueue_score(link, first, *progress, score_given=6 if progress[0] == "Completed" else None)
    enqueue_score(link, second, "Submitted", "PendingManual")
    db.session.commit()
    lms.fail_next(SCORES, status=503)  # the first user's first score

    assert worker.run_once(app_context) == 2  # only the first of each user+line item is claimed
    assert [s["userId"] for s in lms.scores_for()] == ["User-1"]  # the other user is not held up

    drain(app_context)

    sent = [s["activityProgress"] for s in lms.scores_for() if s["userId"] == "User-0"]
    assert sent == ["InProgress", "Submitted", "Completed"]
    assert len(lms.scores_for()) == 4


def test_nothing_is_lost_while_the_lms_is_down(app_context, lms):
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Completed", "FullyGraded", score_given=10)
    db.session.commit()
    port = lms.server.server.server_port
    lms.server.stop()

    assert worker.run_once(app_context) == 1
    message = db.session.scalars(db.select(OutboxMessage)).one()
    assert message.status == "pending"
    assert "could not be reached" in message.last_error

    # The LMS comes back on the same address, with the same gradebook.
    restarted = LiveServer.__new__(LiveServer)
    restarted.server = make_server("127.0.0.1", port, create_services_app(lms), threaded=True)
    restarted.url = lms.base_url
    restarted.thread = threading.Thread(target=restarted.server.serve_forever, daemon=True)
    lms.server = restarted.start()

    drain(app_context)
    assert len(lms.scores_for()) == 1


def test_a_row_leased_by_a_worker_that_died_is_sent_after_the_lease_expires(app_context, lms, monkeypatch):
    monkeypatch.setitem(app_context.config, "OUTBOX_LEASE_SECONDS", 0.5)
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Completed", "FullyGraded", score_given=5)
    db.session.commit()

    [message_id] = worker.claim("worker-that-died", 10)  # claimed, then the process was killed
    assert message_states() == [(message_id, "sending", 0)]
    assert worker.run_once(app_context) == 0  # its lease still holds

    time.sleep(0.6)
    assert worker.run_once(app_context) == 1
    assert message_states() == [(message_id, "sent", 1)]
    # The dead worker coming back to life cannot send it again: the row is no longer its own.
    assert worker.process(message_id, "worker-that-died") is None
    assert len(lms.scores_for()) == 1


def test_the_access_token_is_reused_until_it_expires(app_context, lms):
    lms.token_lifetime = 2
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Started", "NotReady")
    db.session.commit()
    worker.run_once(app_context)
    enqueue_score(link, person, "InProgress", "NotReady")
    db.session.commit()
    worker.run_once(app_context)

    assert len(lms.token_requests) == 1  # the second score reused the cached token

    time.sleep(2.1)
    enqueue_score(link, person, "Submitted", "PendingManual")
    db.session.commit()
    worker.run_once(app_context)

    assert len(lms.token_requests) == 2
    assert len(lms.scores_for()) == 3


def test_a_revoked_token_is_replaced_once(app_context, lms):
    link, (person, _) = make_course(lms)
    enqueue_score(link, person, "Started", "NotReady")
    db.session.commit()
    worker.run_once(app_context)
    lms.tokens.clear()  # the platform forgets every token (a restart, a revocation)

    enqueue_score(link, person, "InProgress", "NotReady")
    db.session.commit()
    worker.run_once(app_context)

    assert len(lms.token_requests) == 2
    assert [r.status for r in lms.requests_to(SCORES, "POST")] == [204, 401, 204]
    assert [s for _, s, _ in message_states()] == ["sent", "sent"]


def test_the_line_item_is_created_by_the_worker_when_missing(app_context, lms):
    link, (person, _) = make_course(lms, with_line_item=False)
    enqueue_score(link, person, "Submitted", "PendingManual")
    db.session.commit()

    drain(app_context)

    [item_id] = lms.line_items
    assert lms.line_items[item_id]["data"]["resourceLinkId"] == "RL-1"
    assert len(lms.scores_for(item_id)) == 1
    message = db.session.scalars(db.select(OutboxMessage)).one()
    assert message.line_item.url == lms.line_item_url(item_id)


def _two_workers(app, rounds_limit: int) -> list[int]:
    claimed = [0, 0]
    errors = []

    def run(index):
        try:
            idle = 0
            while idle < 20:
                count = worker.run_once(app, limit=rounds_limit)
                claimed[index] += count
                idle = 0 if count else idle + 1
                if not count:
                    time.sleep(0.02)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return claimed


def _enqueue_many(link, people, per_person: int) -> None:
    for sequence in range(per_person):
        for person in people:
            enqueue_score(link, person, "InProgress", "NotReady", comment=f"{person.sub}:{sequence}")
    db.session.commit()


def _assert_each_sent_once_in_order(lms, people, per_person: int) -> None:
    scores = lms.scores_for()
    assert len(scores) == len(people) * per_person
    assert len({s["comment"] for s in scores}) == len(scores)
    for person in people:
        mine = [int(s["comment"].split(":")[1]) for s in scores if s["userId"] == person.sub]
        assert mine == list(range(per_person))


def test_two_workers_share_the_outbox(app_context, lms):
    link, people = make_course(lms, users=4)
    _enqueue_many(link, people, per_person=5)

    _two_workers(app_context, rounds_limit=3)

    _assert_each_sent_once_in_order(lms, people, per_person=5)


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs DATABASE_URL on PostgreSQL"
)
def test_two_workers_on_postgresql_never_send_a_row_twice(app_context, lms):
    link, people = make_course(lms, users=20)
    _enqueue_many(link, people, per_person=10)  # 200 rows

    claimed = _two_workers(app_context, rounds_limit=5)

    assert sum(claimed) == 200
    assert all(claimed), claimed  # both workers did part of the work
    _assert_each_sent_once_in_order(lms, people, per_person=10)
    assert {s for _, s, _ in message_states()} == {"sent"}
    assert not db.session.scalar(
        db.select(db.func.count()).select_from(OutboxMessage).where(OutboxMessage.attempts != 1)
    )


def test_backoff_is_capped(app_context):
    assert worker.backoff_seconds(1) == pytest.approx(0.05)
    assert worker.backoff_seconds(3) == pytest.approx(0.2)
    assert worker.backoff_seconds(30) == 1.0
    assert worker.backoff_seconds(1, retry_after=0.5) == 0.5
    assert timedelta(seconds=worker.lease_seconds()) > timedelta(seconds=7)


def test_the_worker_thread_sends_and_stops(app_context, lms, monkeypatch):
    monkeypatch.setitem(app_context.config, "OUTBOX_POLL_SECONDS", 0.05)
    link, (person, _) = make_course(lms)
    thread = worker.start_thread(app_context)
    try:
        enqueue_score(link, person, "Submitted", "PendingManual")
        db.session.commit()
        deadline = time.monotonic() + 10
        while not lms.scores_for() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        thread.stop(timeout=10)
        app_context.extensions.pop("outbox_worker", None)
    assert not thread.is_alive()
    assert len(lms.scores_for()) == 1


def test_a_failed_score_is_not_sent_after_a_newer_one_went_ahead(app_context, client, lms):
    link, (person, admin) = make_course(lms)
    enqueue_score(link, person, "InProgress", "NotReady")
    enqueue_score(link, person, "Submitted", "PendingManual")
    db.session.commit()
    # 409, not 400: a 400 to a progress-only score means the LMS takes final scores only (test_outbox_refusals.py)
    lms.fail_next(SCORES, status=409, message="The gradebook is locked")

    assert worker.run_once(app_context) == 1  # the first one only; it fails for good
    assert worker.run_once(app_context) == 1  # the newer one is not held back by a failed one
    [(older, failed, _), (newer, sent, _)] = message_states()
    assert (failed, sent) == ("failed", "sent")
    assert [s["activityProgress"] for s in lms.scores_for()] == ["Submitted"]

    ltik = admin_ltik(link.context.deployment.registration_id, admin)
    html = as_new_request(client).get("/admin/outbox/", query_string={"ltik": ltik}).get_data(as_text=True)
    assert 'data-went-ahead="1"' in html
    assert f"#{newer})" in html
    assert "Mark as out of date" in html

    response = as_new_request(client).post(f"/admin/outbox/{older}/retry", data={"ltik": ltik})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#message-{older}")
    drain(app_context)

    assert [s["activityProgress"] for s in lms.scores_for()] == ["Submitted"]  # never InProgress after it
    assert [s for _, s, _ in message_states()] == ["superseded", "sent"]
    html = as_new_request(client).get("/admin/outbox/", query_string={"ltik": ltik}).get_data(as_text=True)
    assert "A newer score for this person was already sent; this one is out of date" in html
    assert f'<tr id="message-{older}" data-status="superseded">' in html
    assert '<td data-status="superseded">1</td>' in html
    assert "Nothing has failed" in html


def test_a_retried_score_is_sent_when_no_newer_one_was(app_context, client, lms):
    link, (person, admin) = make_course(lms)
    enqueue_score(link, person, "InProgress", "NotReady")
    enqueue_score(link, person, "Submitted", "PendingManual")
    db.session.commit()
    lms.fail_next(SCORES, status=409, count=2)
    drain(app_context)
    [(older, _, _), (newer, _, _)] = message_states()
    assert [s for _, s, _ in message_states()] == ["failed", "failed"]

    ltik = admin_ltik(link.context.deployment.registration_id, admin)
    for message_id in (older, newer):
        assert as_new_request(client).post(f"/admin/outbox/{message_id}/retry", data={"ltik": ltik}).status_code == 302
    drain(app_context)

    assert [s["activityProgress"] for s in lms.scores_for()] == ["InProgress", "Submitted"]
    assert [s for _, s, _ in message_states()] == ["sent", "sent"]


def test_the_worker_does_not_send_a_retried_score_once_a_newer_one_was_sent(app_context, client, lms):
    """The admin retried while nothing newer was sent; a newer score got through before the worker's turn."""
    link, (person, admin) = make_course(lms)
    enqueue_score(link, person, "InProgress", "NotReady")
    enqueue_score(link, person, "Submitted", "PendingManual")
    db.session.commit()
    lms.fail_next(SCORES, status=409, count=2)
    drain(app_context)
    [(older, _, _), (newer, _, _)] = message_states()

    ltik = admin_ltik(link.context.deployment.registration_id, admin)
    as_new_request(client).post(f"/admin/outbox/{older}/retry", data={"ltik": ltik})
    assert db.session.get(OutboxMessage, older).status == "pending"
    # Meanwhile the newer one reached the LMS (e.g. a worker that claimed it just before the retry).
    db.session.get(OutboxMessage, newer).status = "sent"
    db.session.get(OutboxMessage, newer).sent_at = datetime.now(UTC)
    db.session.commit()

    drain(app_context)

    assert lms.scores_for() == []
    assert [s for _, s, _ in message_states()] == ["superseded", "sent"]


def _forget_in_the_lms(lms) -> str:
    """The teacher deletes the tool's grade column in the LMS."""
    [item_id] = list(lms.line_items)
    del lms.line_items[item_id]
    return item_id


def test_a_line_item_deleted_in_the_lms_is_found_or_created_again(app_context, lms):
    link, (person, other) = make_course(lms)
    old_id = _forget_in_the_lms(lms)
    enqueue_score(link, person, "Completed", "FullyGraded", score_given=8)
    enqueue_score(link, other, "Submitted", "PendingManual")
    db.session.commit()

    assert worker.run_once(app_context) == 2
    states = message_states()
    # Retryable once, not failed: the batch was made ready before the LMS answered, so both scores met the old
    # column; the next round finds or creates it once and sends both there.
    assert [(s, a) for _, s, a in states] == [("pending", 1), ("pending", 1)]
    message = db.session.get(OutboxMessage, states[0][0])
    assert message.last_status_code == 404
    assert "looked up or created again" in message.last_error
    drain(app_context)

    [new_id] = list(lms.line_items)
    assert new_id != old_id
    assert lms.line_items[new_id]["data"]["resourceLinkId"] == "RL-1"
    assert sorted(s["userId"] for s in lms.scores_for(new_id)) == ["User-0", "User-1"]
    assert [(s, a) for _, s, a in message_states()] == [("sent", 2), ("sent", 2)]
    [line_item] = db.session.scalars(db.select(LineItem)).all()
    assert line_item.url == lms.line_item_url(new_id)
    assert len(lms.requests_to(f"/lineitems/{COURSE}", "POST")) - len(lms.requests_to(SCORES, "POST")) == 1


@pytest.mark.parametrize("status", [404, 410])
def test_a_second_404_for_the_line_item_fails_for_good(app_context, client, lms, status):
    link, (person, admin) = make_course(lms)
    enqueue_score(link, person, "Completed", "FullyGraded", score_given=8)
    db.session.commit()
    lms.fail_next(SCORES, status=status, count=2, message="No such line item")

    drain(app_context)

    [(message_id, state, attempts)] = message_states()
    assert (state, attempts) == ("failed", 2)
    message = db.session.get(OutboxMessage, message_id)
    assert f"answered HTTP {status} again" in message.last_error
    assert "No such line item" in message.last_error
    assert len(lms.requests_to(f"/lineitems/{COURSE}", "GET")) == 1  # looked up once, between the two
    assert [r.status for r in lms.requests_to(SCORES, "POST")] == [status, status]

    ltik = admin_ltik(link.context.deployment.registration_id, admin)
    html = as_new_request(client).get("/admin/outbox/", query_string={"ltik": ltik}).get_data(as_text=True)
    assert f"answered HTTP {status} again" in html
    as_new_request(client).post(f"/admin/outbox/{message_id}/retry", data={"ltik": ltik})
    drain(app_context)
    assert [(s, a) for _, s, a in message_states()] == [("sent", 1)]
    assert len(lms.scores_for()) == 1


def test_a_batch_goes_out_side_by_side_yet_each_person_in_order_and_once(app_context, lms):
    app_context.config["OUTBOX_SEND_THREADS"] = 4
    try:
        link, people = make_course(lms, users=24)
        for person in people:
            for progress in (("InProgress", "NotReady"), ("Submitted", "PendingManual"), ("Completed", "FullyGraded")):
                enqueue_score(link, person, *progress, score_given=1 if progress[0] == "Completed" else None)
        db.session.commit()
        seen_threads = set()
        original = lms_session().request

        def counting(*args, **kwargs):
            seen_threads.add(threading.current_thread().name)
            return original(*args, **kwargs)

        lms_session().request = counting
        try:
            drain(app_context)
        finally:
            del lms_session().request
        assert len({name for name in seen_threads if name.startswith("outbox-send")}) > 1
        for person in people:
            sent = [s["activityProgress"] for s in lms.scores_for() if s["userId"] == person.sub]
            assert sent == ["InProgress", "Submitted", "Completed"], person.sub
        assert len(lms.scores_for()) == 72
    finally:
        app_context.config["OUTBOX_SEND_THREADS"] = 1


def test_declining_waiting_progress_scores_leaves_one_another_worker_claimed_meanwhile(app_context, lms):
    """The platform's refusal is learned while another worker claims one of the waiting drafts: that one stays the
    other worker's (leased, sending), never `declined` with a lease still on it."""
    from sqlalchemy import event

    from lti_tool.gradebook.services import decline_waiting_progress_scores

    app = app_context
    link, people = make_course(lms)
    messages = [m for person in people for m in enqueue_score(link, person, "InProgress", "NotReady")]
    db.session.commit()
    first, second = (m.id for m in messages)
    registration_id = link.context.deployment.registration_id
    db.session.remove()
    claimed, fired = [], threading.Event()

    def other_worker_claims():
        with app.app_context():
            claimed.extend(worker.claim("w2", 1))
            db.session.remove()

    def right_after_the_waiting_are_read(conn, cursor, statement, *args):
        if not fired.is_set() and statement.lstrip().upper().startswith("SELECT") and "status" in statement:
            fired.set()
            thread = threading.Thread(target=other_worker_claims)
            thread.start()
            thread.join(10)

    with app.app_context():
        event.listen(db.engine, "after_cursor_execute", right_after_the_waiting_are_read)
        try:
            declined = decline_waiting_progress_scores(registration_id)
            db.session.commit()
        finally:
            event.remove(db.engine, "after_cursor_execute", right_after_the_waiting_are_read)
            db.session.remove()

    assert claimed == [first] and declined == 1
    rows = {m.id: m for m in db.session.scalars(db.select(OutboxMessage))}
    assert (rows[first].status, rows[first].leased_by) == ("sending", "w2")
    assert (rows[second].status, rows[second].leased_by) == ("declined", None)


def test_a_new_placement_gets_a_score_without_a_maximum_as_the_column_states_it(app_context, lms):
    """The latest score has scoreGiven but no scoreMaximum (its column was not known when it was queued): the copy
    for another placement carries no `"scoreMaximum": null`; the column's own maximum is added when it is sent."""
    from lti_tool.gradebook.services import catch_up_new_placement
    from lti_tool.lti.models import ResourceLink, ResourceLinkLaunch

    link, (person, _) = make_course(lms, with_line_item=False)
    [final] = enqueue_score(link, person, "Completed", "FullyGraded", score_given=8)
    assert "scoreMaximum" not in final.payload
    second = ResourceLink(context=link.context, resource_link_id="RL-2", title="Again",
                          microcredential_slug=link.microcredential_slug)
    item = lms.add_line_item(COURSE, label="Again", scoreMaximum=20, resourceLinkId="RL-2")
    db.session.add_all([second, LineItem(resource_link=second, url=item["id"], label="Again", score_maximum=20),
                        ResourceLinkLaunch(resource_link=second, user_id=person.id)])
    db.session.commit()

    copy = catch_up_new_placement(second, person)
    db.session.commit()

    assert "scoreMaximum" not in copy.payload and copy.payload["scoreGiven"] == 8
    drain(app_context)
    assert [s for _, s, _ in message_states()] == ["sent", "sent"]
    sent = [r.body for r in lms.requests_to(f"{SCORES}/{item['id'].rsplit('/', 1)[1]}/scores", "POST")]
    assert [(s["scoreGiven"], s["scoreMaximum"]) for s in sent] == [(8, 20)]
