"""The demo LMS's three assessors: a newcomer walks the whole double-blind path with `make run`.

Launches go through the demo platform over real HTTP (the helpers and the `demo` app of test_demo.py); the
scoring itself is done with the assessment services, as the assessor pages do it, and the released grade reaches
the demo's gradebook through the tool's outbox.
"""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from lti_tool.extensions import db
from tests.integration.test_demo import LIS, Browser, _launch_links, launch, serve_demo
from tests.nothing_changed import nothing_changes

DOUBLE_BLIND_SLUG = "feedback-to-promote-learning"
DOUBLE_BLIND_TITLE = "Providing Feedback to Promote Learning"
ASSESSORS = {
    "assessor": ("demo-assessor", LIS + "membership/Instructor#TeachingAssistant"),
    "assessor-2": ("demo-assessor-2", LIS + "membership/Instructor#Grader"),
    "assessor-3": ("demo-assessor-3", LIS + "membership#Mentor"),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo LMS and the tool, as `make run` serves them (test_demo.py's set-up)."""
    yield from serve_demo(tmp_path_factory)


def _activity_of(demo, slug: str) -> dict:
    with demo.app.app_context():
        from lti_tool.demo.platform import load_course

        return next(a for a in load_course()["activities"] if a["custom"].get("microcredential") == slug)


def _launch_as(demo, persona: str, slug: str = DOUBLE_BLIND_SLUG):
    """Launch the micro-credential's activity as a demo persona; the launch context the tool gave them."""
    from lti_tool.lti.launch_context import read_launch_token

    browser = Browser()
    course = browser.get(demo.url + "/demo")
    activity = _activity_of(demo, slug)
    link = next(h for h in _launch_links(course.text, persona) if f"/{activity['id']}/" in h)
    launched, claims = launch(browser, demo.url, link)
    ltik = parse_qs(urlsplit(launched.headers["Location"]).query)["ltik"][0]
    cookie = f"lti_browser={browser.session.cookies.get('lti_browser')}"  # the reference is bound to this browser
    with demo.app.test_request_context(headers={"Cookie": cookie}):
        return read_launch_token(ltik), claims


def test_the_course_page_offers_three_assessors_with_distinct_names(demo):
    page = requests.get(demo.url + "/demo", timeout=10).text
    names = {}
    for persona in ASSESSORS:
        assert _launch_links(page, persona), f"no 'Launch as {persona}' button"
        row = re.search(rf'<tr data-persona-row="{persona}"><td>(.*?)</td><td>(.*?) <span', page, re.S)
        names[persona] = unescape(row.group(2))
    assert names == {"assessor": "Asha Assessor", "assessor-2": "Bruno Bauer", "assessor-3": "Carmen Castillo"}
    assert "Launch as assessor 2" in page and "Launch as assessor 3" in page
    steps = page.split('id="double-blind-steps"', 1)[1].split("</ol>", 1)[0]
    for name in names.values():
        assert name in steps


@pytest.mark.parametrize("persona", list(ASSESSORS))
def test_each_assessor_launches_with_the_assessor_duty_only(demo, persona):
    context, claims = _launch_as(demo, persona)
    sub, role = ASSESSORS[persona]
    assert claims["sub"] == sub
    assert role in claims["https://purl.imsglobal.org/spec/lti/claim/roles"]
    assert context.duties == ("assessor",)  # never the instructor's view of the educators' names


def test_the_double_blind_micro_credential_is_named_on_the_course_page(demo):
    from lti_tool.catalog.services import get_microcredential

    with demo.app.app_context():
        assert get_microcredential(DOUBLE_BLIND_SLUG).double_blind is True
        assert get_microcredential("self-assessment-growth").double_blind is False
    page = requests.get(demo.url + "/demo", timeout=10).text
    section = page.split('id="double-blind"', 1)[1].split("<ol", 1)[0]
    assert DOUBLE_BLIND_TITLE in section


def test_the_whole_double_blind_path_reaches_the_demo_gradebook(demo):
    """Educator submits; assessors 1 and 2 disagree; assessor 3 decides; the release reaches the gradebook."""
    from lti_tool.assessment import services
    from lti_tool.assessment.allocation import scope_for
    from lti_tool.assessment.models import Assessment, Slot
    from lti_tool.catalog.services import get_microcredential
    from lti_tool.gradebook.worker import run_once
    from lti_tool.lti.models import LtiUser
    from tests.factories import bring_work_to

    for persona in ("educator", *ASSESSORS):
        _launch_as(demo, persona)  # each person enters the tool once, as in the walk-through
    activity = _activity_of(demo, DOUBLE_BLIND_SLUG)
    bring_work_to(demo.app, "demo-educator", "submitted", _now(), course="demo-course", activity=activity["id"],
                  slug=DOUBLE_BLIND_SLUG)

    with demo.app.app_context():
        microcredential = get_microcredential(DOUBLE_BLIND_SLUG)
        users = {p: db.session.scalar(db.select(LtiUser).where(LtiUser.sub == sub)) for p, (sub, _) in
                 ASSESSORS.items()}
        assessment = db.session.scalar(db.select(Assessment).order_by(Assessment.id.desc()))
        if assessment is None:  # no receiver of `attempt_submitted` in this app: open it as the receiver would
            from lti_tool.submissions.models import Attempt

            attempt = db.session.scalar(db.select(Attempt).order_by(Attempt.id.desc()))
            assessment = services.open_assessment(attempt)
        assert assessment.is_double_blind
        for user in users.values():
            assert scope_for(user).covers(assessment), f"{user.name} cannot assess the demo's submission"

        required = microcredential.required_level_key
        earned = {c.key: required for c in microcredential.criteria}
        first = microcredential.criteria[0].key
        not_yet = {**earned, first: microcredential.levels[0].key}
        decisions = [("assessor", earned, {}), ("assessor-2", not_yet, {first: "More evidence, please."})]
        for persona, levels, feedback in decisions:
            scoring = services.claim_scoring(assessment, users[persona].id)
            services.complete_scoring(scoring, users[persona].id, levels, feedback, scoring.version)
        assert services.disagreement(assessment)
        assert services.slot_for(assessment, users["assessor-3"].id, _now()) == Slot.THIRD
        third = services.claim_scoring(assessment, users["assessor-3"].id)
        services.complete_scoring(third, users["assessor-3"].id, earned, {}, third.version)
        assert assessment.decision == "earned"
        services.release_assessment(assessment, users["assessor-3"].id)
        db.session.commit()
    deadline = time.monotonic() + 15
    while run_once(demo.app) and time.monotonic() < deadline:  # every score, in order, as the worker sends them
        pass

    gradebook = requests.get(demo.url + "/demo", timeout=10).text.split('id="gradebook"', 1)[1]
    row = next(r for r in gradebook.split("<tr>") if "Ellie Educator" in r and DOUBLE_BLIND_TITLE in r)
    assert "Completed · FullyGraded" in row
    assert "Earned" in row

    # The earned badge's email, as `make run` shows it: listed in the demo, with the baked badge attached.
    from lti_tool.mail.outbox import run_once as send_mail

    while send_mail(demo.app):
        pass
    course = requests.get(demo.url + "/demo", timeout=10).text
    assert "Mail sent by the tool (1)" in course
    listing = requests.get(demo.url + "/demo/mail", timeout=10).text
    assert f"You earned the micro-credential “{DOUBLE_BLIND_TITLE}”" in listing
    detail_path = re.search(r'href="(/demo/mail/[^"/]+)"', listing).group(1)
    detail = requests.get(demo.url + detail_path, timeout=10).text
    png_path = re.search(r'href="(/demo/mail/[^"]+/\d+)"[^>]*>[^<]*\.png', detail).group(1)
    png = requests.get(demo.url + png_path, timeout=10)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def _now():
    from lti_tool.core.models import utcnow

    return utcnow()


# -- an admin makes a micro-credential double-blind -----------------------------------------------------------
def test_an_admin_toggles_the_assessment_settings_in_the_catalog_form(app, browser, live_tool, catalog):
    """The demo leaves the catalog alone: double-blind (and the other settings) are switched in the admin form."""
    from lti_tool.catalog.services import export_catalog, get_microcredential, microcredential_entry

    ltik = browser.launch(person="admin").ltik
    url = f"{live_tool.url}/admin/catalog/{DOUBLE_BLIND_SLUG}/edit"
    form_page = browser.get(url, params={"ltik": ltik})
    assert form_page.status_code == 200
    assert re.search(r'id="double_blind" name="double_blind" value="1"[^>]* checked', form_page.text)
    with app.app_context():
        entry = microcredential_entry(get_microcredential(DOUBLE_BLIND_SLUG))
    assert entry["assessment"] == {"instructors_may_assess": False, "review_before_release": False,
                                   "double_blind": True, "reopen_rule": "untilpass", "max_attempts": 3}

    from tests.platform.browser import forms_in

    form = next(f for f in forms_in(form_page.text) if "title" in f["fields"])
    fields = {**form["fields"], "ltik": ltik}
    for name in ("competency", "key_method", "description", "resources", "rubric", "earning_rule",
                 *(f"prompts_{part}" for part in ("overview", "artifacts", "reflection"))):
        fields[name] = unescape(re.search(rf'<textarea id="{name}"[^>]*>(.*?)</textarea>', form_page.text,
                                          re.S).group(1))
    fields.pop("double_blind")  # unticked
    fields.update(review_before_release="1", reopen_rule="manual", max_attempts="2")
    saved = browser.post(url, data=fields)
    assert saved.status_code == 200 and "was saved" in saved.text, saved.text[:800]
    with app.app_context():
        mc = get_microcredential(DOUBLE_BLIND_SLUG)
        assert (mc.double_blind, mc.review_before_release, mc.reopen_rule, mc.max_attempts) == (
            False, True, "manual", 2)
        assert "double_blind: false" in export_catalog() and "reopen_rule: manual" in export_catalog()

    fields["max_attempts"] = "lots"
    with nothing_changes(app):
        refused = browser.post(url, data=fields)
    assert refused.status_code == 400
    assert "max_attempts: &#39;lots&#39; is not a whole number" in refused.text
