"""The badge panel as the educator sees it inside the LMS iframe: an issued badge (copy its link), and a badge
waiting for an email address (the form, a refused address).

Chromium, the tool in a cross-site LMS iframe, third-party cookies blocked; every state is checked with axe-core
and photographed to build/screenshots/. The badge is earned over real HTTP (tests/badge_road.py); the panel is
reached by clicking, as the educator would.
"""

from __future__ import annotations

import re

import pytest

from tests.badge_panel_road import Mailbox, text_of
from tests.badge_road import earn_badge
from tests.browser.conftest import assert_accessible, launch_in_lms, screenshot, screenshot_frame

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"


def _launch(page, lms, **plan):
    return launch_in_lms(page, lms, "learner", custom={"microcredential": SLUG}, context_id="course-1",
                         resource_link_id="activity-1", **plan)


def test_the_panel_of_an_issued_badge_and_its_copy_button(app, lms, page, live_tool):
    earned = earn_badge(app, lms)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lms.base_url)
    frame = _launch(page, lms)
    frame.get_by_role("heading", name="Your badge").wait_for(timeout=15000)
    frame.locator("#your-badge").scroll_into_view_if_needed()
    screenshot_frame(page, frame, "badge-panel-0-submission-page")
    assert_accessible(frame, "badge-panel-0-submission-page")
    frame.get_by_role("link", name="Open your badge").click()
    frame.get_by_role("heading", name="My badges", exact=True).wait_for(timeout=15000)

    card = frame.locator(f"#badge-{earned.badge_uuid}")
    assert card.locator("[data-status]").inner_text() == "Valid"
    image = card.get_by_role("img", name=f"Badge image of {TITLE}")
    # the baked PNG loaded (waiting for it: the heading can show before the image has arrived)
    assert image.evaluate("img => img.complete ? img.naturalWidth > 0 : new Promise(done => {"
                          " img.onload = () => done(img.naturalWidth > 0); img.onerror = () => done(false); })")
    link_field = card.get_by_label("Public link (the verification page)")
    verify_url = f"{live_tool.url}/badges/{earned.badge_uuid}"
    assert link_field.input_value() == verify_url
    assert link_field.get_attribute("readonly") is not None
    screenshot_frame(page, frame, "badge-panel-1-issued")
    assert_accessible(frame, "badge-panel-1-issued")

    # "Copy link": the scripted button appears, copies, and says so
    button = card.locator(f'button[data-copy="link-{earned.badge_uuid}"]')
    assert button.is_visible() and button.inner_text() == "Copy link"
    button.click()
    card.get_by_text("Copied to the clipboard.").wait_for(timeout=5000)
    assert button.inner_text() == "Copied"
    assert page.evaluate("() => navigator.clipboard.readText()") == verify_url

    # the embed snippets open, and the page stays accessible with them shown
    card.get_by_text("Embed it in a web page or an LMS").click()
    snippet = card.get_by_label("HTML for a web page (a card that stays up to date)")
    assert snippet.input_value().startswith(f'<iframe src="{verify_url}/embed"')
    card.get_by_role("button", name="Copy HTML").first.click()
    assert page.evaluate("() => navigator.clipboard.readText()") == snippet.input_value()
    screenshot_frame(page, frame, "badge-panel-2-embed")
    assert_accessible(frame, "badge-panel-2-embed")

    # "Email it to me": the notice names the masked address
    card.get_by_role("button", name="Email it to me").click()
    frame.locator("#notice").wait_for(timeout=15000)
    assert frame.locator("#notice").inner_text().startswith("Sent to a…@s….example")
    assert_accessible(frame, "badge-panel-3-emailed")


def test_the_panel_of_a_badge_waiting_for_an_email_address(app, lms, page):
    earned = earn_badge(app, lms, share_email=False)
    mailbox = Mailbox(app)
    frame = _launch(page, lms, remove_claims=("email",))
    frame.get_by_role("heading", name="Your badge").wait_for(timeout=15000)
    frame.get_by_role("link", name="Confirm your email address").click()
    frame.get_by_role("heading", name="Your badge is waiting for your email address").wait_for(timeout=15000)
    assert "Your course did not share your email address: confirm one and we will issue it." in \
        frame.locator("#confirm-email").inner_text()
    screenshot_frame(page, frame, "badge-panel-4-awaiting-email")
    assert_accessible(frame, "badge-panel-4-awaiting-email")

    field = frame.get_by_label("Your email address", exact=True)
    field.fill("ada at home")
    frame.get_by_role("button", name="Send the confirmation link").click()
    frame.locator("#email-error").wait_for(timeout=15000)
    assert frame.get_by_label("Your email address", exact=True).input_value() == "ada at home"
    screenshot_frame(page, frame, "badge-panel-5-refused-address")
    assert_accessible(frame, "badge-panel-5-refused-address")

    frame.get_by_label("Your email address", exact=True).fill("ada.home@example.org")
    frame.get_by_role("button", name="Send the confirmation link").click()
    frame.locator("#confirmation-pending").wait_for(timeout=15000)
    assert "We sent a link to a…@e….org; open it to issue your badge (valid 24 hours)." in \
        frame.locator("#confirmation-pending").inner_text()
    screenshot_frame(page, frame, "badge-panel-6-link-sent")
    assert_accessible(frame, "badge-panel-6-link-sent")

    # the link, opened from the mailbox in a tab of its own (outside the LMS): a button, then the issued badge
    (message,) = mailbox.deliver()
    (link,) = set(re.findall(r"http://[^\s]+/my-badges/confirm\?token=[A-Za-z0-9_-]+", text_of(message)))
    mailbox_tab = page.context.new_page()
    mailbox_tab.goto(link)
    mailbox_tab.get_by_role("heading", name="Confirm ada.home@example.org for your badges").wait_for(timeout=15000)
    screenshot(mailbox_tab, "badge-panel-7-confirm-email")
    assert_accessible(mailbox_tab, "badge-panel-7-confirm-email")
    mailbox_tab.get_by_role("button", name="Confirm ada.home@example.org").click()
    mailbox_tab.get_by_role("heading", name="Your badge is issued").wait_for(timeout=15000)
    screenshot(mailbox_tab, "badge-panel-8-email-confirmed")
    assert_accessible(mailbox_tab, "badge-panel-8-email-confirmed")
    mailbox_tab.get_by_role("link", name=f"Verification page of “{TITLE}”").click()
    mailbox_tab.locator("#verdict").wait_for(timeout=15000)
    assert mailbox_tab.url.endswith(f"/badges/{earned.badge_uuid}")
    assert mailbox_tab.locator("#verdict").inner_text().startswith("✓ Valid")
