"""Placing a micro-credential in a course: Deep Linking 2.0 and binding an unbound activity on first launch."""

from __future__ import annotations

from tests.platform.browser import forms_in
from tests.platform.platform import DL, LTI

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"



def _deep_link(browser, slug=SLUG):
    picker = browser.launch(person="instructor", message_type="LtiDeepLinkingRequest")
    assert picker.status_code == 200, picker.text[:300]
    return picker, browser.submit_form(picker.response, microcredential=slug)


def test_deep_linking_shows_the_catalog_to_an_instructor(browser, catalog):
    picker = browser.launch(person="instructor", message_type="LtiDeepLinkingRequest")
    assert picker.status_code == 200
    assert TITLE in picker.text
    assert "Providing Feedback to Promote Learning" in picker.text
    assert {button for button in ("self-assessment-growth", "feedback-to-promote-learning")} <= set(
        picker.text.split('"')
    )


def test_choosing_answers_the_platform_with_a_signed_resource_link_and_line_item(browser, platform, catalog):
    _, answer = _deep_link(browser)
    assert answer.status_code == 200
    form = forms_in(answer.text)[0]
    assert form["action"] == platform.base_url + "/deep-link-return"

    received = browser.post(form["action"], data=form["fields"])
    assert received.status_code == 200, received.text  # the platform verified it with the tool's JWKS
    claims = platform.deep_link_responses[-1]
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == platform.deployment_id
    assert claims[DL + "data"] == "opaque-platform-data"
    (item,) = claims[DL + "content_items"]
    assert item["type"] == "ltiResourceLink"
    assert item["title"] == TITLE
    assert item["url"] == platform.tool_launch_url
    assert item["custom"] == {"microcredential": SLUG}
    assert item["lineItem"]["scoreMaximum"] == 100  # a useful column: Earned = 100, Not yet = the share met
    assert item["lineItem"]["label"] == TITLE
    assert item["lineItem"]["resourceId"] == SLUG
    assert item["lineItem"]["tag"] == "microcredential"


def test_an_activity_placed_by_deep_linking_lands_on_its_micro_credential(browser, catalog):
    result = browser.launch(person="learner", custom={"microcredential": SLUG}, resource_link_id="placed-1")
    assert result.status_code == 200
    for fact in (TITLE, "Division of Elementary and Secondary Education", "6 hours", "Ada Lovelace",
                 "Professional Learning 2026"):
        assert fact in result.text
    assert "Key method" in result.text and "Competency" in result.text


def test_a_learner_cannot_use_deep_linking(browser, catalog):
    result = browser.launch(person="learner", message_type="LtiDeepLinkingRequest")
    assert result.status_code == 403


def test_choosing_something_outside_the_catalog_is_refused(browser, platform, catalog):
    _, answer = _deep_link(browser, slug="not-in-the-catalog")
    assert answer.status_code == 403
    assert "catalog" in answer.text
    assert platform.deep_link_responses == []


def test_an_instructor_on_an_unbound_link_is_offered_the_catalog_and_binds_it(browser, catalog):
    picker = browser.launch(person="instructor", resource_link_id="unbound-1")
    assert picker.status_code == 200
    assert "Choose the micro-credential for this activity" in picker.text

    bound = browser.submit_form(picker.response, microcredential=SLUG)
    assert bound.status_code == 200
    assert TITLE in bound.text

    learner = browser.launch(person="learner", resource_link_id="unbound-1")
    assert TITLE in learner.text
    assert "not set up yet" not in learner.text


def test_binding_to_an_unknown_slug_is_refused_and_the_link_stays_unbound(app, browser, catalog):
    picker = browser.launch(person="instructor", resource_link_id="unbound-2")
    refused = browser.submit_form(picker.response, microcredential="nonsense")
    assert refused.status_code == 404
    from lti_tool.extensions import db
    from lti_tool.lti.models import ResourceLink

    with app.app_context():
        link = db.session.scalar(db.select(ResourceLink).where(ResourceLink.resource_link_id == "unbound-2"))
        assert link.microcredential_slug is None


def test_a_learner_cannot_bind_an_activity(browser, live_tool, catalog):
    learner = browser.launch(person="learner", resource_link_id="unbound-3")
    response = browser.post(live_tool.url + "/lti/bind", data={"ltik": learner.ltik, "microcredential": SLUG})
    assert response.status_code == 403


def test_a_link_naming_a_slug_outside_the_catalog_tells_the_learner_plainly(browser, catalog):
    result = browser.launch(person="learner", custom={"microcredential": "retired-or-mistyped"})
    assert result.status_code == 200
    assert "not in the tool's catalog" in result.text


def test_an_unsubstituted_custom_variable_is_not_a_binding(browser, catalog):
    result = browser.launch(person="learner", custom={"microcredential": "$Canvas.assignment.id"})
    assert "not set up yet" in result.text


def test_a_teaching_assistant_lands_as_an_assessor(browser, catalog):
    result = browser.launch(person="assessor", custom={"microcredential": SLUG})
    assert result.status_code == 200
    assert "Alan Turing · Assessor" in result.text


def test_a_bound_activity_cannot_be_rebound(app, browser, catalog):
    picker = browser.launch(person="instructor", resource_link_id="unbound-4")
    browser.submit_form(picker.response, microcredential=SLUG)
    again = browser.post(picker.response.url.split("?")[0], data={"ltik": picker.ltik,
                                                                   "microcredential": "feedback-to-promote-learning"})
    assert again.status_code == 409
    assert "already set up" in again.text
    from lti_tool.extensions import db
    from lti_tool.lti.models import ResourceLink

    with app.app_context():
        link = db.session.scalar(db.select(ResourceLink).where(ResourceLink.resource_link_id == "unbound-4"))
        assert link.microcredential_slug == SLUG


def test_a_changed_custom_parameter_does_not_rebind_an_activity(app, browser, catalog):
    first = browser.launch(person="learner", custom={"microcredential": SLUG}, resource_link_id="bound-5")
    assert TITLE in first.text
    later = browser.launch(person="learner", custom={"microcredential": "feedback-to-promote-learning"},
                           resource_link_id="bound-5")
    assert TITLE in later.text
    from lti_tool.extensions import db
    from lti_tool.lti.models import ResourceLink

    with app.app_context():
        link = db.session.scalar(db.select(ResourceLink).where(ResourceLink.resource_link_id == "bound-5"))
        assert link.microcredential_slug == SLUG


def test_a_link_bound_to_a_slug_outside_the_catalog_takes_a_corrected_parameter(app, browser, catalog):
    browser.launch(person="learner", custom={"microcredential": "mistyped"}, resource_link_id="bound-6")
    fixed = browser.launch(person="learner", custom={"microcredential": SLUG}, resource_link_id="bound-6")
    assert TITLE in fixed.text
