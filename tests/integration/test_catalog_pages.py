"""The Library of Micro-Credentials and a page per micro-credential, through real launches."""

from __future__ import annotations

from html import unescape

import pytest
import yaml

from lti_tool.core.dates import local_datetime_label, time_remaining_label

SAMPLES = ("self-assessment-growth", "feedback-to-promote-learning")



@pytest.fixture
def sample_entries(app):
    """The two samples as the catalog file states them."""
    with open(app.config["CATALOG_FILE"], encoding="utf-8") as handle:
        return {entry["slug"]: entry for entry in yaml.safe_load(handle)["microcredentials"]}


def _page(browser, live_tool, launch, path):
    return browser.get(f"{live_tool.url}{path}", params={"ltik": launch.ltik})


@pytest.mark.parametrize("person", ["learner", "instructor", "admin"])
def test_the_library_shows_every_sample_with_its_facts(browser, live_tool, catalog, sample_entries, person):
    launch = browser.launch(person=person)
    page = _page(browser, live_tool, launch, "/catalog/")
    assert page.status_code == 200, page.text[:300]
    text = unescape(page.text)
    assert "Library of Micro-Credentials" in text
    for slug, entry in sample_entries.items():
        facts = (entry["title"], entry["issuing_organization"], "6 hours", entry["competency"], entry["key_method"])
        for fact in facts:
            assert fact in text
        assert f"/catalog/{slug}?ltik=" in page.text
    assert "<svg" in page.text  # no badge image in the samples: a neutral placeholder


@pytest.mark.parametrize("slug", SAMPLES)
def test_a_micro_credential_page_shows_description_resources_prompts_rubric_and_rule(
    browser, live_tool, catalog, sample_entries, slug
):
    entry = sample_entries[slug]
    page = _page(browser, live_tool, browser.launch(person="learner"), f"/catalog/{slug}")
    assert page.status_code == 200
    text = unescape(page.text)
    for fact in (entry["title"], entry["issuing_organization"], entry["competency"], entry["key_method"],
                 entry["description"], entry["earning_rule"], "6 hours"):
        assert fact in text
    for resource in entry["resources"]:
        assert f'<a href="{resource["url"]}" target="_blank" rel="noopener noreferrer">' in text
        assert resource["title"] in text

    # The three parts in their order, each with its prompts in order.
    positions = [text.index(title) for title in ("Overview", "Work examples and artifacts", "Reflection")]
    assert positions == sorted(positions)
    prompts = [prompt for part in ("overview", "artifacts", "reflection") for prompt in entry["parts"][part]["prompts"]]
    places = [text.index(prompt) for prompt in prompts]
    assert places == sorted(places)

    # The rubric: levels as columns (the required one marked), criteria as rows, every descriptor.
    rubric = entry["rubric"]
    header = text[text.index("<thead>"):text.index("</thead>")]
    assert [header.index(level["label"]) for level in rubric["levels"]] == sorted(
        header.index(level["label"]) for level in rubric["levels"])
    assert "Demonstrated <span class=\"ok\">(required)</span>" in header
    for criterion in rubric["criteria"]:
        row = text[text.index(criterion["title"]):]
        row = row[:row.index("</tr>")]
        cells = [row.index(criterion["descriptors"][level["key"]]) for level in rubric["levels"]]
        assert cells == sorted(cells)


def test_the_page_shows_the_terms_dates_deadline_time_remaining_and_seats(app, browser, live_tool, catalog):
    from lti_tool.catalog.services import current_term
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Enrollment

    with app.app_context():
        term = current_term()
        expected_dates = [local_datetime_label(getattr(term, name), term.time_zone) for name in (
            "enrollment_opens_at", "enrollment_closes_at", "recommended_submission_at", "final_deadline_at")]
        before = time_remaining_label(term.final_deadline_at)
        deadline = term.final_deadline_at
    page = _page(browser, live_tool, browser.launch(person="learner"), "/catalog/self-assessment-growth")
    with app.app_context():
        after = time_remaining_label(deadline)
        taken = db.session.scalar(db.select(db.func.count(Enrollment.id)))
    assert "2026-2027 School Year" in page.text
    for label in expected_dates:
        assert label in page.text
    assert "Tuesday, 15 June 2027, 11:59 PM EDT" in page.text  # the final deadline in the term's zone
    assert before in page.text or after in page.text
    assert "<dt>Earner limit</dt><dd>100 educators</dd>" in page.text
    assert f"<dt>Seats left</dt><dd>{100 - taken}</dd>" in page.text


def test_seats_left_are_the_seats_the_earner_limit_holds(app, browser, live_tool, running_term):
    from lti_tool.catalog.services import current_term, get_microcredential
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser, ResourceLink
    from lti_tool.submissions.services import enroll

    launch = browser.launch(person="learner", resource_link_id="seats-1")
    with app.app_context():
        user = db.session.scalar(db.select(LtiUser).limit(1))
        link = db.session.scalar(db.select(ResourceLink).where(ResourceLink.resource_link_id == "seats-1"))
        enroll(user, get_microcredential("feedback-to-promote-learning"), current_term(), link)
        db.session.commit()
    counted = _page(browser, live_tool, launch, "/catalog/feedback-to-promote-learning")
    other = _page(browser, live_tool, launch, "/catalog/self-assessment-growth")
    assert "<dt>Seats left</dt><dd>99</dd>" in counted.text
    assert "<dt>Seats left</dt><dd>100</dd>" in other.text


def test_a_retired_micro_credential_leaves_the_library_but_its_page_says_it_is_retired(
    app, browser, live_tool, catalog
):
    from lti_tool.catalog.services import get_microcredential, retire_microcredential
    from lti_tool.extensions import db

    with app.app_context():
        retire_microcredential(get_microcredential("feedback-to-promote-learning"))
        db.session.commit()
    launch = browser.launch(person="learner")
    library = _page(browser, live_tool, launch, "/catalog/")
    assert "Providing Feedback to Promote Learning" not in library.text
    assert "Educator Self-Assessment and Professional Growth" in library.text
    page = _page(browser, live_tool, launch, "/catalog/feedback-to-promote-learning")
    assert page.status_code == 200
    assert "This micro-credential is retired" in page.text


def test_an_unknown_micro_credential_is_not_found(browser, live_tool, catalog):
    page = _page(browser, live_tool, browser.launch(person="learner"), "/catalog/no-such-thing")
    assert page.status_code == 404


@pytest.mark.parametrize("path", ["/catalog/", "/catalog/self-assessment-growth"])
def test_the_catalog_needs_a_launch(browser, live_tool, catalog, path):
    assert browser.get(live_tool.url + path).status_code == 403
    assert browser.get(live_tool.url + path, params={"ltik": "forged"}).status_code == 403


def test_a_launch_without_any_duty_cannot_read_the_catalog(browser, live_tool, catalog):
    launch = browser.launch(person="guest")
    assert _page(browser, live_tool, launch, "/catalog/").status_code == 403
