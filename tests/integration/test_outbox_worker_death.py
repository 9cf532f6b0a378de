"""A worker process killed while the LMS holds its score request: another worker takes the message after one
short lease, the person's next score follows, and the repeated score changes nothing in the gradebook."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import update

from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.gradebook import worker
from lti_tool.gradebook.models import OutboxMessage
from lti_tool.gradebook.services import enqueue_score
from tests.factories import COURSE, make_course

PROJECT = Path(__file__).resolve().parents[2]
SCORES = f"/lineitems/{COURSE}/Item"
LEASE = 1.2  # seconds: short (the held request must stay within the read timeout of testing, 5 s)


def _worker_process(app, lease: float) -> subprocess.Popen:
    """`flask --app wsgi worker`, its own process on the test's database, keys and cache, as in production."""
    config = app.config
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "INSTANCE_PATH": app.instance_path,
        "LTI_KEYS_DIR": config["LTI_KEYS_DIR"],
        "CACHE_DIR": config["CACHE_DIR"],
        "SECRET_KEY": config["SECRET_KEY"],
        "OUTBOX_LEASE_SECONDS": str(lease),
        "OUTBOX_POLL_SECONDS": "0.1",
    }
    if config.get("REDIS_URL"):
        env["REDIS_URL"] = config["REDIS_URL"]
    flask = Path(sys.executable).with_name("flask")
    return subprocess.Popen([str(flask), "--app", "wsgi", "worker"], cwd=PROJECT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _message(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message_id)
    db.session.commit()  # no transaction left open between looks
    return message


def test_a_killed_worker_delays_the_next_score_one_short_lease_and_its_repeat_is_harmless(app_context, lms,
                                                                                          monkeypatch):
    app = app_context
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", LEASE)
    link, (person, _) = make_course(lms)
    [draft] = enqueue_score(link, person, "InProgress", "NotReady")
    db.session.commit()
    draft_id = draft.id
    held = lms.hold_next(SCORES)  # the LMS takes its time over the draft's score

    process = _worker_process(app, LEASE)
    try:
        assert held.arrived.wait(60), "the worker process never sent the score"
        [final] = enqueue_score(link, person, "Completed", "FullyGraded", score_given=8)  # the decision, meanwhile
        db.session.commit()
        final_id = final.id

        # While the worker lives, its heartbeat keeps the draft's score its own well past one lease: another
        # worker takes nothing (the final score waits in line behind the draft's).
        deadline = time.monotonic() + 2.5 * LEASE
        while time.monotonic() < deadline:
            assert worker.run_once(app) == 0
            time.sleep(0.1)
        assert _message(draft_id).status == "sending"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    killed_at = time.monotonic()

    # Another worker takes the draft's score once the dead worker's last lease has run out, and sends it again.
    while _message(draft_id).status != "sent":
        assert time.monotonic() - killed_at < LEASE + 5, "the dead worker's message was not taken again"
        worker.run_once(app)
        time.sleep(0.05)
    taken_after = time.monotonic() - killed_at
    assert LEASE / 2 < taken_after < LEASE + 1.5  # about one lease (the heartbeat renewed it every third)
    while _message(final_id).status != "sent":
        assert time.monotonic() - killed_at < LEASE + 10
        worker.run_once(app)
        time.sleep(0.05)

    # Now the LMS answers the dead worker's request at last: a score older than the one on record, ignored.
    held.released.set()
    deadline = time.monotonic() + 10
    while not lms.ignored_scores and time.monotonic() < deadline:
        time.sleep(0.05)
    posted = [r.body for r in lms.requests_to(SCORES, "POST")]
    drafts = [score for score in posted if score["activityProgress"] == "InProgress"]
    assert len(drafts) == 2  # sent twice: by the worker that died, and by the one that took over
    assert drafts[0] == drafts[1]  # the very same score, with the timestamp taken when it was queued
    assert [score["timestamp"] for score in lms.ignored_scores] == [drafts[0]["timestamp"]]
    assert [s["activityProgress"] for s in lms.scores_for()] == ["InProgress", "Completed"]
    [result] = lms.results_for(next(iter(lms.line_items))).values()
    assert (result["userId"], result["resultScore"]) == (person.sub, 8)  # the gradebook ends with the newest score
    assert _message(draft_id).attempts == 1  # the dead worker never recorded its try


# -- the heartbeat keeps the batch's own claims only, and a failed round hangs nothing ------------------------------

def _lease_left(message_id: int) -> float:
    message = _message(message_id)
    return (message.leased_until - utcnow()).total_seconds() if message.leased_until else float("-inf")


def test_the_heartbeat_renews_its_batch_only_not_a_claim_left_by_an_earlier_round(app_context, lms, monkeypatch):
    app = app_context
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", 0.6)
    link, (a, b) = make_course(lms)
    [orphan] = enqueue_score(link, a, "InProgress", "NotReady")
    db.session.commit()
    orphan_id = orphan.id
    assert worker.claim("w1", 1) == [orphan_id]  # an earlier round of w1 claimed it and died before recording it
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == orphan_id)
                       .values(leased_until=utcnow() + timedelta(seconds=0.1)))
    [current] = enqueue_score(link, b, "InProgress", "NotReady")
    db.session.commit()
    current_id = current.id
    db.session.remove()

    with app.app_context():
        claimed = worker.claim("w1", 10)  # the next batch of the same worker (the orphan's lease still runs)
        assert claimed == [current_id]
        with worker.LeaseKeeper(app, "w1", claimed):
            time.sleep(0.5)  # a slow LMS: the heartbeat beats
        db.session.remove()

    assert _lease_left(orphan_id) < 0  # not renewed: another round takes it
    assert _lease_left(current_id) > 0.3  # the batch's own claim was renewed
    assert worker.run_once(app) == 1
    assert _message(orphan_id).status == "sent"


def test_a_round_that_fails_puts_its_claims_back_in_line_at_once(app_context, lms, monkeypatch):
    app = app_context
    link, people = make_course(lms)
    messages = [m for person in people for m in enqueue_score(link, person, "InProgress", "NotReady")]
    db.session.commit()
    ids = [m.id for m in messages]

    def broken(*args, **kwargs):  # fault injection: a bug or a lost database connection in the middle of a round
        raise RuntimeError("the round broke")

    with monkeypatch.context() as patch:
        patch.setattr(worker, "_send_all", broken)
        with pytest.raises(RuntimeError):
            worker.run_once(app, worker_id="w1")

    for message_id in ids:
        message = _message(message_id)
        assert (message.status, message.leased_by, message.leased_until, message.attempts) == ("pending", None, None, 0)
    assert lms.requests_to(SCORES, "POST") == []
    assert worker.run_once(app) == 2  # at once, not one lease later
    assert [_message(i).status for i in ids] == ["sent", "sent"]


def _in_thread(target, timeout: float) -> bool:
    """Run `target` in a thread; False if it is still running after `timeout` (a hang fails, never blocks)."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


def _free_hung_sessions() -> None:
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'idle in transaction'"))
            connection.commit()


def test_a_batch_failing_while_it_holds_row_locks_does_not_hang_on_its_heartbeat(app_context, lms, monkeypatch):
    app = app_context
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", 0.3)
    link, people = make_course(lms)
    for person in people:
        enqueue_score(link, person, "InProgress", "NotReady")
    db.session.commit()
    outcome = {}

    def batch():
        with app.app_context():
            try:
                claimed = worker.claim("w1", 10)
                with worker.LeaseKeeper(app, "w1", claimed):
                    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == claimed[0])
                                       .values(attempts=1).execution_options(synchronize_session=False))
                    time.sleep(0.5)  # a heartbeat beats meanwhile, next to the row this session holds
                    raise RuntimeError("a database error in the record loop")
            except RuntimeError as error:
                outcome["error"] = error
            finally:
                db.session.remove()

    finished = _in_thread(batch, timeout=8)
    if not finished:
        _free_hung_sessions()
    assert finished, "the batch hung: its heartbeat waited for a row lock the batch itself held"
    assert str(outcome["error"]) == "a database error in the record loop"
    assert {_message(m.id).attempts for m in db.session.scalars(db.select(OutboxMessage))} == {0}  # rolled back


def test_the_heartbeat_and_a_batch_recording_row_by_row_never_deadlock(app_context, lms, monkeypatch, caplog):
    app = app_context
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", 0.15)
    link, people = make_course(lms, users=30)
    for person in people:
        enqueue_score(link, person, "InProgress", "NotReady")
    db.session.commit()
    db.session.remove()
    errors = []

    def batch():
        with app.app_context():
            try:
                claimed = worker.claim("w1", 40)
                with worker.LeaseKeeper(app, "w1", claimed):
                    for message_id in claimed:  # as run_once records outcomes: one transaction, row after row
                        worker._finish(message_id, "w1", commit=False, status="failed", last_error="x")
                        time.sleep(0.03)
                    db.session.commit()
            except Exception as error:
                errors.append(error)
            finally:
                db.session.remove()

    finished = _in_thread(batch, timeout=20)
    if not finished:
        _free_hung_sessions()
    assert finished and errors == []
    assert {m.status for m in db.session.scalars(db.select(OutboxMessage))} == {"failed"}
