"""A badge's public pages as a visitor's browser shows them: the verification page of a valid and of a revoked
badge, and the badge's card embedded in a page of another site.

Chromium, no login, no LMS around the pages: the badge is earned over real HTTP (`tests.badge_road`), then the
browser opens what anyone with the link opens. The embedding page is served by a tiny site on `localhost`, the
tool on `127.0.0.1`: another origin, as a blog or a portfolio would be. Every page is checked with axe-core and
photographed to build/screenshots/ (and /tmp/shots/).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from flask import Flask

from tests.badge_road import badge_row, earn_badge
from tests.browser.conftest import assert_accessible, screenshot
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("running_term")]

TITLE = "Educator Self-Assessment and Professional Growth"
SHOTS = Path(tempfile.gettempdir()) / "shots"  # a copy, to look at while working


def _shot(page, name: str) -> Path:
    path = screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)
    return path


def _revoke(app, badge_uuid: str, reason: str) -> None:
    from lti_tool.badges import issuing
    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    with app.app_context():
        issuing.revoke(db.session.scalar(db.select(Badge).where(Badge.uuid == badge_uuid)), None, reason)
        db.session.commit()


def _image_loaded(locator) -> bool:
    return locator.evaluate("img => img.complete && img.naturalWidth > 0")


@pytest.fixture
def badge(app, lms):
    earned = earn_badge(app, lms)
    return badge_row(app, earned.assessment_id)


def test_the_verification_page_of_a_valid_then_revoked_badge(app, live_tool, page, badge):
    url = f"{live_tool.url}/badges/{badge.uuid}"
    page.goto(url)
    page.get_by_role("heading", level=1, name=TITLE).wait_for()
    assert page.locator("#verdict").inner_text().startswith("✓ Valid")
    assert page.locator("#earner").inner_text() == "Ada Lovelace"
    assert _image_loaded(page.get_by_role("img", name=f"Badge of {TITLE}"))
    checks = page.get_by_role("table")
    for name in ("Signature", "Credential", "Status", "Expiry"):
        assert checks.get_by_role("row", name=name).get_by_role("cell").first.inner_text() == "✓ Passed"
    assert page.get_by_role("link", name="Badge image (PNG)").is_visible()
    _shot(page, "badge-public-1-valid")
    assert_accessible(page, "badge-public-1-valid")

    # narrow screens (a phone opening a shared link): nothing scrolls sideways
    page.set_viewport_size({"width": 380, "height": 900})
    assert page.locator("html").evaluate("el => el.scrollWidth <= el.clientWidth")
    _shot(page, "badge-public-2-valid-narrow")
    page.set_viewport_size({"width": 1100, "height": 1000})

    _revoke(app, badge.uuid, "The artifacts were not the educator's own work.")
    page.reload()
    verdict = page.locator("#verdict").inner_text()
    assert verdict.startswith("✗ Revoked on ") and "The artifacts were not the educator's own work." in verdict
    status = page.get_by_role("table").get_by_role("row", name="Status")
    assert status.get_by_role("cell").first.inner_text() == "✗ Failed"
    assert page.get_by_role("link", name="Badge image (PNG)").count() == 0
    _shot(page, "badge-public-3-revoked")
    assert_accessible(page, "badge-public-3-revoked")

    # its card, wherever it was embedded, says so too
    page.set_viewport_size({"width": 340, "height": 170})
    page.goto(f"{url}/embed")
    assert page.get_by_text("✗ Revoked on").is_visible()
    assert page.locator("html").evaluate("el => el.scrollHeight <= 170 && el.scrollWidth <= 340")
    _shot(page, "badge-public-3b-embed-revoked")
    assert_accessible(page, "badge-public-3b-embed-revoked")


def _other_site(html: str) -> LiveServer:
    """A tiny site that is not the tool: one page with the given body, served at http://localhost:<port>/."""
    site = Flask("another-site")
    site.add_url_rule("/", "home", lambda: html)
    return LiveServer(site).start()


@pytest.mark.csp_violation_expected("frame-ancestors")  # the verification page, framed by another site
def test_the_embed_snippet_shows_the_card_on_a_page_of_another_site(app, live_tool, page, badge):
    from lti_tool.badges import presentation
    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    with app.app_context():
        issued = db.session.scalar(db.select(Badge).where(Badge.uuid == badge.uuid))
        snippet, fallback = presentation.embed_snippet(issued), presentation.image_link_snippet(issued)
    verify_url = f"{live_tool.url}/badges/{badge.uuid}"
    html = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Ada's portfolio</title></head>"
            "<body><main><h1>Ada's portfolio</h1><h2>My badges</h2>" + snippet +
            "<h2>The same badge, as an image link</h2>" + fallback +
            # the verification page itself may not be framed by another site: only its card may
            f"<h2>Framed page</h2><iframe id='page' title='Verification page' src='{verify_url}'"
            " width='340' height='170'></iframe></main></body></html>")
    server = _other_site(html)
    try:
        site = server.url.replace("127.0.0.1", "localhost")
        page.goto(site + "/")
        page.wait_for_load_state("load")
        card = page.frame_locator(f"iframe[title='{TITLE} badge']")
        card.get_by_role("heading", name=TITLE).wait_for(timeout=15000)
        assert card.get_by_text("Earned by Ada Lovelace").is_visible()
        assert card.get_by_text("✓ Valid").is_visible()
        assert card.get_by_text("Division of Elementary and Secondary Education").is_visible()
        assert _image_loaded(card.get_by_role("img", name=f"Badge of {TITLE}"))
        # the card fits its frame: nothing hidden below or beside it
        assert card.locator("html").evaluate("el => el.scrollHeight <= 170 && el.scrollWidth <= 340")
        assert _image_loaded(page.locator("a > img"))

        frame = page.locator(f"iframe[title='{TITLE} badge']").element_handle().content_frame()
        blocked = page.locator("iframe#page").element_handle().content_frame()
        assert blocked.locator("#verdict").count() == 0, "another site could frame the verification page"

        _shot(page, "badge-public-4-embed-on-another-site")
        assert_accessible(page, "badge-public-4-embedding-page")
        assert_accessible(frame, "badge-public-5-embed-card")

        # "Verify" opens the verification page in a new tab, never inside the frame
        link = card.get_by_role("link", name="Verify this badge (opens in a new tab)")
        with page.context.expect_page() as opened:
            link.click()
        verification = opened.value
        verification.wait_for_load_state()
        assert verification.url == verify_url
        assert verification.locator("#verdict").inner_text().startswith("✓ Valid")
        assert frame.url.endswith("/embed")
    finally:
        server.stop()


def test_the_criteria_issuer_and_earner_pages(app, live_tool, page, badge):
    from lti_tool.badges.models import EarnerProfile
    from lti_tool.extensions import db

    page.goto(f"{live_tool.url}/badges/{badge.uuid}")
    page.get_by_role("link", name=f"Criteria and rubric of {TITLE}").click()
    page.get_by_role("heading", level=1, name=TITLE).wait_for()
    assert page.locator("#competency").is_visible()
    assert page.get_by_role("columnheader", name="Demonstrated (required)").is_visible()
    _shot(page, "badge-public-6-criteria")
    assert_accessible(page, "badge-public-6-criteria")

    page.get_by_role("link", name="Division of Elementary and Secondary Education").first.click()
    page.get_by_role("heading", level=1, name="Division of Elementary and Secondary Education").wait_for()
    assert page.locator("#issued-count").inner_text() == "1"
    _shot(page, "badge-public-7-issuer")
    assert_accessible(page, "badge-public-7-issuer")

    with app.app_context():
        db.session.add(EarnerProfile(user_id=badge.user_id, public_slug="ada-lovelace-4c1e", is_public=True))
        db.session.commit()
    page.goto(f"{live_tool.url}/earners/ada-lovelace-4c1e")
    page.get_by_role("heading", level=1, name="Badges of Ada Lovelace").wait_for()
    page.get_by_role("link", name=TITLE).click()
    page.locator("#verdict").wait_for()
    assert page.url == f"{live_tool.url}/badges/{badge.uuid}"
    page.go_back()
    _shot(page, "badge-public-8-earner")
    assert_accessible(page, "badge-public-8-earner")
