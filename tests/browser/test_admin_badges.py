"""An admin manages badges inside the LMS iframe: finds a badge, revokes it with a reason, sees the result; and
the issuer profiles. The verifier's public page then says it is revoked.

Chromium, the tool in a cross-site LMS iframe, third-party cookies blocked; every page is checked with axe-core and
photographed to build/screenshots/. The badge is earned over real HTTP (tests/badge_road.py); the rest is clicked
and typed in the browser.
"""

from __future__ import annotations

import pytest

from tests.badge_road import badge_row, earn_badge
from tests.browser.conftest import (
    SCREENSHOTS,
    assert_accessible,
    frame_ltik,
    launch_in_lms,
    screenshot,
    screenshot_frame,
    tool_frame,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
REASON = "The portfolio's evidence was found to be another educator's work."


def _admin_page(page, lms, path: str):
    """The admin launched in the LMS, then the tool's frame on `path` (with the frame's launch reference)."""
    frame = launch_in_lms(page, lms, "admin")
    frame.locator("h1").first.wait_for(timeout=15000)
    tool_frame(page).goto(f"{lms.tool_origin}{path}?ltik={frame_ltik(page)}")
    return frame


def test_an_admin_finds_a_badge_and_revokes_it_with_a_reason(app, lms, page, catalog, live_tool):
    earned = earn_badge(app, lms)
    frame = _admin_page(page, lms, "/admin/badges/")
    frame.get_by_role("heading", name="Badges", exact=True).wait_for(timeout=15000)
    row = frame.locator(f'tr[data-badge="{earned.badge_uuid}"]')
    assert "Ada Lovelace" in row.inner_text() and TITLE in row.inner_text() and "Issued" in row.inner_text()
    assert_accessible(frame, "admin badges list")
    screenshot_frame(page, tool_frame(page), "admin-badges-list")

    # a search narrows the list, and keeps the badge
    frame.get_by_label("Name or email").fill("lovelace")
    frame.get_by_role("button", name="Show").click()
    frame.locator(f'tr[data-badge="{earned.badge_uuid}"]').wait_for(timeout=15000)
    assert "q=lovelace" in tool_frame(page).url

    frame.get_by_role("link", name="Ada Lovelace", exact=True).click()
    frame.get_by_role("heading", name="Badge of Ada Lovelace").wait_for(timeout=15000)
    assert frame.locator("#badge-status").inner_text() == "Issued"
    assert frame.locator('#audit-log tr[data-action="issued"]').count() == 1
    assert_accessible(frame, "admin badge page")
    screenshot_frame(page, tool_frame(page), "admin-badge-issued")

    frame.get_by_label("Reason (required)").fill(REASON)
    frame.get_by_role("button", name="Revoke this badge").click()
    frame.locator("#done").wait_for(timeout=15000)
    assert "The badge was revoked" in frame.locator("#done").inner_text()
    assert frame.locator("#badge-status").inner_text() == "Revoked"
    assert frame.locator("#revocation-reason").inner_text() == REASON
    assert frame.locator('#audit-log tr[data-action="revoked"]').inner_text().count("Edsger Dijkstra") == 1
    assert frame.get_by_role("button", name="Un-revoke (reinstate) this badge").is_visible()
    assert_accessible(frame, "admin badge page, revoked")
    screenshot_frame(page, tool_frame(page), "admin-badge-revoked")
    badge = badge_row(app, earned.assessment_id)
    assert (badge.status, badge.revocation_reason) == ("revoked", REASON)

    # what every verifier sees: the public page, outside the LMS
    public = page.context.new_page()
    public.goto(f"{live_tool.url}/badges/{earned.badge_uuid}")
    assert "Revoked on" in public.locator("main").inner_text()
    screenshot(public, "admin-badge-revoked-public-page")
    public.close()


def test_the_issuer_pages_read_well_and_say_what_is_wrong(app, lms, page, catalog):
    earn_badge(app, lms)
    frame = _admin_page(page, lms, "/admin/issuers/")
    frame.get_by_role("heading", name="Issuer profiles").wait_for(timeout=15000)
    assert "Division of Elementary and Secondary Education" in frame.locator("#issuers").inner_text()
    assert_accessible(frame, "issuer profiles")
    screenshot_frame(page, tool_frame(page), "admin-issuers")

    frame.get_by_role("link", name="Add an issuer profile").click()
    frame.get_by_role("heading", name="Add an issuer profile").wait_for(timeout=15000)
    frame.get_by_label("Web address").fill("javascript:alert(1)")
    frame.get_by_label("Email").fill("not an email")
    frame.get_by_role("button", name="Add the issuer profile").click()
    frame.locator("#problems").wait_for(timeout=15000)
    assert frame.locator("#name").get_attribute("aria-invalid") == "true"
    assert frame.locator("#url").get_attribute("aria-invalid") == "true"
    assert_accessible(frame, "issuer form with problems")
    screenshot_frame(page, tool_frame(page), "admin-issuer-form-problems")

    frame.get_by_label("Name (required)").fill("Teaching Excellence Network")
    frame.get_by_label("Web address").fill("https://ten.example")
    frame.get_by_label("Email").fill("badges@ten.example")
    frame.get_by_role("button", name="Add the issuer profile").click()
    frame.locator("#done").wait_for(timeout=15000)
    assert "Teaching Excellence Network" in frame.locator("#issuers").inner_text()

    frame.get_by_role("link", name="Edit Teaching Excellence Network").click()
    frame.locator("#from-now-on").wait_for(timeout=15000)
    assert_accessible(frame, "issuer edit form")
    screenshot_frame(page, tool_frame(page), "admin-issuer-form-edit")


def test_the_progress_view_and_the_report_show_the_badges(app, lms, page, catalog):
    earned = earn_badge(app, lms)
    earn_badge(app, lms, person="learner-2", share_email=False)
    frame = _admin_page(page, lms, f"/admin/badges/{earned.badge_uuid}")
    frame.get_by_label("Reason (required)").fill(REASON)
    frame.get_by_role("button", name="Revoke this badge").click()
    frame.locator("#done").wait_for(timeout=15000)

    tool_frame(page).goto(f"{lms.tool_origin}/admin/reports?ltik={frame_ltik(page)}")
    badges = frame.locator("table#badges")
    badges.wait_for(timeout=15000)
    assert "Awaiting the educator's email" in badges.inner_text()
    assert frame.locator('table#badges tr[data-badge-status="revoked"] td[data-badge-revoked] time').count() == 1
    assert_accessible(frame, "report with badges")
    screenshot_frame(page, tool_frame(page), "report-badges")

    frame = launch_in_lms(page, lms, "instructor", custom={"microcredential": SLUG})
    frame.get_by_role("heading", name="Progress of your educators").wait_for(timeout=15000)
    ada = frame.locator("tbody tr").filter(has_text="Ada Lovelace")
    assert ada.locator("td[data-badge-issued] time").count() == 1
    assert ada.locator("td[data-badge-revoked] time").count() == 1
    assert "Awaiting the educator's email" in frame.locator("tbody tr").filter(has_text="Katherine").inner_text()
    assert_accessible(frame, "progress with badges")
    screenshot_frame(page, tool_frame(page), "progress-badges")
    frame.locator(".table-scroll").evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    screenshot_frame(page, tool_frame(page), "progress-badges-scrolled")


def test_the_catalog_form_chooses_the_issuer_and_how_long_badges_are_valid(app, lms, page, catalog):
    frame = _admin_page(page, lms, "/admin/issuers/new")
    frame.get_by_label("Name (required)").fill("Teaching Excellence Network")
    frame.get_by_role("button", name="Add the issuer profile").click()
    frame.locator("#done").wait_for(timeout=15000)

    tool_frame(page).goto(f"{lms.tool_origin}/admin/catalog/{SLUG}/edit?ltik={frame_ltik(page)}")
    frame.locator("#badge-settings").wait_for(timeout=15000)
    frame.get_by_label("Issued by").select_option(label="Teaching Excellence Network")
    frame.get_by_label("Badge valid for (months, empty: never expires)").fill("36")
    assert_accessible(frame, "catalog form with the badge settings")
    frame.locator("#badge-settings").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    frame.locator("#badge-settings").screenshot(path=str(SCREENSHOTS / "catalog-form-badge-settings.png"))
    frame.get_by_role("button", name="Save changes").click()
    frame.locator(".notice[role=status]").wait_for(timeout=15000)
    with app.app_context():
        from lti_tool.catalog.services import get_microcredential

        mc = get_microcredential(SLUG)
        assert (mc.issuer_profile.name, mc.badge_valid_months) == ("Teaching Excellence Network", 36)
