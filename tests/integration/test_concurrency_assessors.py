"""Two assessors saving the same assessment at the same moment, once it exists: each save answers sanely (kept, or
refused with the assessor's text handed back), nothing typed is lost, never a 500. Runs on SQLite and, with
DATABASE_URL set, on PostgreSQL (CI runs the suite on both)."""

from __future__ import annotations

import html
import re
from functools import partial

import pytest

from tests.assessment_road import (
    all_levels,
    assessment_ids,
    at_once,
    form_fields,
    launch_assessor,
    open_assessment,
    score,
    set_microcredential,
    submit_work,
)

pytestmark = pytest.mark.usefixtures("running_term")

ROUNDS = 3  # a race is won by chance: a few rounds meet both orders


def _scorings(app, assessment_id) -> list[dict]:
    from lti_tool.assessment.models import Scoring
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        rows = db.session.execute(
            db.select(Scoring, LtiUser.sub).join(LtiUser, LtiUser.id == Scoring.assessor_id)
            .where(Scoring.assessment_id == assessment_id).order_by(Scoring.slot)
        ).all()
        return [{"slot": s.slot, "assessor": sub, "version": s.version, "feedback": dict(s.feedback or {}),
                 "status": s.status} for s, sub in rows]


def _saved_events(app, assessment_id) -> int:
    from lti_tool.assessment.models import AssessmentEvent
    from lti_tool.extensions import db

    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(AssessmentEvent).where(
            AssessmentEvent.assessment_id == assessment_id, AssessmentEvent.action == "scoring saved"))


def _autosave(assessor, page, assessment_id, levels: dict, feedback: dict):
    fields = form_fields(page, "scoring-form")
    data = {"ltik": fields["ltik"], "scoring_id": fields["scoring_id"], "version": fields["version"],
            **{f"level-{k}": v for k, v in levels.items()}, **{f"feedback-{k}": v for k, v in feedback.items()}}
    return assessor.browser.post(f"{assessor.tool}/assessment/{assessment_id}/autosave", data=data,
                                 headers={"Accept": "application/json"})


def test_two_assessors_of_a_double_blind_assessment_saving_at_once_both_keep_their_text(app, platform):
    set_microcredential(app, double_blind=True)
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first, second = launch_assessor(platform, "assessor"), launch_assessor(platform, "assessor-2")
    pages = [open_assessment(first, assessment_id), open_assessment(second, assessment_id)]
    assert [p.status_code for p in pages] == [200, 200]
    levels = all_levels(app, "developing")
    key = next(iter(levels))

    for round_ in range(ROUNDS):
        texts = (f"First assessor, round {round_}.", f"Second assessor, round {round_}.")
        saves = at_once(partial(score, first, pages[0], levels, {key: texts[0]}, action="save"),
                        partial(score, second, pages[1], levels, {key: texts[1]}, action="save"))
        assert [s.status_code for s in saves] == [200, 200], [(s.status_code, s.text[:300]) for s in saves]
        pages = saves  # each page after its save carries the new version
        by_assessor = {s["assessor"]: s for s in _scorings(app, assessment_id)}
        assert by_assessor["user-assessor-1"]["feedback"][key] == texts[0]
        assert by_assessor["user-assessor-2"]["feedback"][key] == texts[1]

    autosaves = at_once(lambda: _autosave(first, pages[0], assessment_id, levels, {key: "First, autosaved."}),
                        lambda: _autosave(second, pages[1], assessment_id, levels, {key: "Second, autosaved."}))
    assert [a.status_code for a in autosaves] == [200, 200], [a.text[:300] for a in autosaves]
    assert sorted(s["feedback"][key] for s in _scorings(app, assessment_id)) == ["First, autosaved.",
                                                                                 "Second, autosaved."]
    assert _saved_events(app, assessment_id) == 2 * ROUNDS + 2


def test_a_save_and_a_takeover_of_the_same_scoring_at_once_one_wins_and_nothing_typed_is_lost(app, platform):
    """The first assessor's claim ran out; as they save, a colleague opens the submission and takes the scoring
    over. Whichever comes first, the other is refused with its reason, and the first assessor's text is either
    kept (the colleague continues it) or handed back to them."""
    submit_work(platform)
    (assessment_id,) = assessment_ids(app)
    first = ("user-assessor-1", launch_assessor(platform, "assessor"))
    second = ("user-assessor-2", launch_assessor(platform, "assessor-2"))
    levels = all_levels(app, "developing")
    key = next(iter(levels))

    outcomes = set()
    for round_ in range(ROUNDS):
        (holder_sub, holder), (colleague_sub, colleague) = (first, second) if round_ % 2 == 0 else (second, first)
        _end_the_claims(app, assessment_id)  # whoever held it last round, the holder takes it now
        page = open_assessment(holder, assessment_id)
        assert page.status_code == 200, page.text[:300]
        _end_the_claims(app, assessment_id)
        text = f"Typed by the holder in round {round_}."
        before = _scorings(app, assessment_id)

        saved, opened = at_once(partial(score, holder, page, levels, {key: text}, action="save"),
                                partial(open_assessment, colleague, assessment_id))

        assert saved.status_code in (200, 409) and opened.status_code in (200, 409), (
            saved.status_code, saved.text[:300], opened.status_code, opened.text[:300])
        assert 200 in (saved.status_code, opened.status_code)  # one of them always goes through
        (after,) = _scorings(app, assessment_id)
        assert after["version"] > before[0]["version"]
        if saved.status_code == 200:
            assert after["feedback"][key] == text  # kept, and the colleague (if they took over) continues it
        else:
            assert text in html.unescape(saved.text)  # refused: the text comes back to the holder
            assert after["feedback"].get(key) != text
        if opened.status_code == 200:
            assert after["assessor"] == colleague_sub
            assert form_fields(opened, "scoring-form")["version"] == str(after["version"])
            assert _shown_feedback(opened, key) == after["feedback"].get(key, "")  # they see what is kept
        else:
            assert after["assessor"] == holder_sub
            reasons = ("at the same moment", "is being scored by another assessor")  # raced, or came just after
            assert any(reason in html.unescape(opened.text) for reason in reasons), opened.text[:500]
        outcomes.add((saved.status_code, opened.status_code))
    assert outcomes <= {(200, 409), (409, 200)}, outcomes  # a save renews the claim: never both


def _shown_feedback(page, key: str) -> str:
    found = re.search(rf'<textarea[^>]*name="feedback-{re.escape(key)}"[^>]*>(.*?)</textarea>', page.text, re.S)
    return html.unescape(found.group(1)).strip() if found else ""


def _end_the_claims(app, assessment_id) -> None:
    """The claims of this assessment ran out (as ASSESSMENT_CLAIM_MINUTES later)."""
    from datetime import timedelta

    from lti_tool.assessment.models import Scoring
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db

    with app.app_context():
        db.session.execute(db.update(Scoring).where(Scoring.assessment_id == assessment_id)
                           .values(claim_expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
