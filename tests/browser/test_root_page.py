"""`/` in Chromium, as a newcomer opens it after `make run` (a top-level page, no LMS around it): accessible,
no Content-Security-Policy violation, and its demo, catalog and registration links lead where they say."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible, screenshot
from tests.integration.test_root_page import TITLES, serve

pytestmark = [pytest.mark.browser]


@pytest.fixture
def development(tmp_path_factory):
    yield from serve(tmp_path_factory, "development")


@pytest.fixture
def production(tmp_path_factory):
    yield from serve(tmp_path_factory, "production")


def test_a_newcomer_opens_the_root_and_reaches_the_demo(development, page):
    page.goto(development.url + "/")
    page.get_by_role("heading", level=1, name="Micro-Credential Bridge").wait_for()
    for title in TITLES:
        assert page.get_by_role("link", name=title).is_visible()
    assert page.locator("#dynamic-registration-url").inner_text() == development.url + "/lti/register"
    screenshot(page, "root-page-development")
    assert_accessible(page, "root page (development)")

    page.get_by_role("link", name="Open the demo course").click()
    page.get_by_role("heading", level=1, name="Demo Course").wait_for()
    # The reset form, sent by a real browser from the demo's own page, passes its protection.
    with page.expect_response(lambda response: response.url.endswith("/demo/reset")) as reset:
        page.get_by_role("button", name="Reset the course and gradebook").click()
    assert reset.value.status == 303
    page.get_by_role("heading", level=1, name="Demo Course").wait_for()
    assert page.locator("text=The demo LMS refused this").count() == 0

    page.goto(development.url + "/")
    page.get_by_role("link", name=TITLES[0]).click()
    page.get_by_role("heading", level=1, name=TITLES[0]).wait_for()

    page.go_back()
    page.get_by_role("link", name="Every URL and scope, for manual registration").click()
    assert page.locator("#dynamic-registration-url").inner_text() == development.url + "/lti/register"


def test_production_root_page(production, page):
    page.goto(production.url + "/")
    page.get_by_role("heading", level=1, name="Micro-Credential Bridge").wait_for()
    assert page.get_by_role("link", name="Open the demo course").count() == 0
    assert "flask --app wsgi platforms invite" in page.locator("#register").inner_text()
    screenshot(page, "root-page-production")
    assert_accessible(page, "root page (production)")
