"""The educator's badge panel inside the LMS, over real HTTP: every download is the owner's and answers with the
right type, the public link reaches the verification page, LinkedIn gets what it asks for, "Email it to me"
writes a mail the worker sends with its attachments (3 an hour), the name choice reaches the public pages, and
another person sees none of it."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.assessment_road import submit_work
from tests.badge_panel_road import (
    Mailbox,
    attachments,
    field_value,
    link_named,
    links,
    open_panel,
    post_panel,
    text_of,
    tool_of,
)
from tests.badge_road import earn_badge
from tests.nothing_changed import nothing_changes

pytestmark = pytest.mark.usefixtures("running_term")

TITLE = "Educator Self-Assessment and Professional Growth"
ISSUER = "Division of Elementary and Secondary Education"
ADA = "ada@school.example"


def _pdf_text(data: bytes) -> str:
    from io import BytesIO

    from pypdf import PdfReader

    assert data.startswith(b"%PDF")
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(BytesIO(data)).pages)


def _jwt_payload(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_the_panel_shows_the_badge_with_every_download_and_each_is_the_owners(app, platform, live_tool):
    earned = earn_badge(app, platform)
    page = open_panel(earned)
    assert page.status_code == 200, page.text[:500]
    uuid = earned.badge_uuid
    card = re.search(rf'<article[^>]*id="badge-{uuid}".*?</article>', page.text, re.S).group(0)
    assert TITLE in card and f"Issued by {ISSUER}" in card
    assert re.search(r'data-status>Valid</span>', card)
    assert f'src="/badges/{uuid}/badge.png"' in card  # the baked image

    expected = {
        "Badge image (PNG)": "image/png",
        "Badge image (SVG)": "image/svg+xml",
        "Open Badges 3.0 credential (.jwt)": "application/vc+jwt",
        "Open Badges 2.0 assertion (.json)": "application/json",
        "Record of completion (PDF)": "application/pdf",
    }
    browser = earned.submitted.browser
    for label, mimetype in expected.items():
        url = link_named(card, label)
        answer = browser.get(url if url.startswith("http") else tool_of(earned) + url)
        assert answer.status_code == 200, (label, answer.status_code, answer.text[:300])
        assert answer.headers["Content-Type"].split(";")[0] == mimetype, label
        assert answer.headers["Content-Disposition"].startswith("attachment;"), label
        body = answer.content
        if mimetype in ("image/png", "image/svg+xml"):
            assert uuid.encode() in body, f"{label} does not carry this badge baked in"
        elif mimetype == "application/vc+jwt":
            assert _jwt_payload(body.decode())["jti"].endswith(f"/ob/v3/credentials/{uuid}")
        elif mimetype == "application/json":
            assert json.loads(body)["id"].endswith(f"/ob/v2/assertions/{uuid}")
        else:
            assert answer.headers["Cache-Control"] == "private, no-store"
            text = _pdf_text(body)
            assert TITLE in text and f"/badges/{uuid}" in text and "Ada Lovelace" in text

    # the public link is the verification page, and following it (anyone, no launch) shows the live check
    copied = field_value(page.text, f"link-{uuid}")
    assert copied == f"{live_tool.url}/badges/{uuid}"
    verification = requests.get(copied, timeout=10)
    assert verification.status_code == 200 and "Valid" in verification.text and TITLE in verification.text

    # LinkedIn's add-to-profile link: a certification with name, organization, issue date, id and URL
    linkedin = [href for href, attributes, label in links(card) if label.startswith("Add to LinkedIn profile")]
    assert len(linkedin) == 1
    (attributes,) = [attributes for href, attributes, label in links(card) if label.startswith("Add to LinkedIn")]
    assert 'target="_blank"' in attributes and 'rel="noopener"' in attributes
    parts = urlsplit(linkedin[0])
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.linkedin.com", "/profile/add")
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query["name"] == TITLE and query["organizationName"] == ISSUER
    assert query["certUrl"] == copied and query["certId"] == uuid
    from tests.badge_road import badge_row

    issued_at = badge_row(app, earned.assessment_id).issued_at
    assert (query["issueYear"], query["issueMonth"]) == (str(issued_at.year), str(issued_at.month))

    # sharing by link, and the embed snippets (read-only fields)
    hrefs = [href for href, _, _ in links(card)]
    assert any(h.startswith("https://twitter.com/intent/tweet?") for h in hrefs)
    assert any(h.startswith("https://www.facebook.com/sharer/sharer.php?") for h in hrefs)
    assert any(h.startswith("mailto:?") for h in hrefs)
    assert field_value(card, f"embed-{uuid}").startswith(f'<iframe src="{live_tool.url}/badges/{uuid}/embed"')
    assert f'href="{copied}"' in field_value(card, f"image-link-{uuid}")
    assert re.search(rf'<textarea readonly id="embed-{uuid}"', card)


def test_another_learner_sees_no_foreign_badge_and_cannot_reach_its_record(app, platform):
    earned = earn_badge(app, platform)
    uuid = earned.badge_uuid
    other = submit_work(platform, person="learner-2")  # launched, in the same course, with work of their own
    tool = tool_of(earned)

    panel = other.browser.get(tool + "/my-badges/", params={"ltik": other.ltik})
    assert panel.status_code == 200
    assert uuid not in panel.text and TITLE not in panel.text.split("<main>")[1].split('id="no-badges"')[0]
    assert "No badges yet" in panel.text

    record = other.browser.get(f"{tool}/my-badges/{uuid}/record.pdf", params={"ltik": other.ltik})
    assert record.status_code == 404 and "application/pdf" not in record.headers["Content-Type"]
    for path, data in ((f"/{uuid}/email", {}), (f"/{uuid}/display-name", {"display_name": "hidden"})):
        with nothing_changes(app):
            refused = other.browser.post(tool + "/my-badges" + path, data={"ltik": other.ltik, **data})
        assert refused.status_code == 404, path
    from tests.badge_road import badge_row

    assert badge_row(app, earned.assessment_id).display_name == "full"

    # the owner's own record is there; without a launch there is nothing
    assert earned.submitted.browser.get(f"{tool}/my-badges/{uuid}/record.pdf",
                                        params={"ltik": earned.submitted.ltik}).status_code == 200
    assert requests.get(f"{tool}/my-badges/{uuid}/record.pdf", timeout=10).status_code == 403
    assert requests.get(f"{tool}/my-badges/", timeout=10).status_code == 403


def test_email_it_to_me_sends_the_image_and_the_record_at_most_three_times_an_hour(app, platform):
    earned = earn_badge(app, platform)
    mailbox = Mailbox(app)
    (issue_mail,) = [m for m in mailbox.deliver() if m["To"] == ADA]  # the email sent at issue

    sent = post_panel(earned, f"/{earned.badge_uuid}/email")
    assert sent.status_code == 200 and "notice=emailed" in sent.url, sent.text[:500]
    assert "Sent to a…@s….example" in sent.text
    assert ADA not in re.search(r'id="notice">(.*?)</div>', sent.text, re.S).group(1)
    (message,) = mailbox.deliver()
    assert message["To"] == ADA and TITLE in message["Subject"]
    files = attachments(message)
    assert {kind for kind, _ in files.values()} == {"image/png", "application/pdf"}
    png = next(data for kind, data in files.values() if kind == "image/png")
    pdf = next(data for kind, data in files.values() if kind == "application/pdf")
    assert png.startswith(b"\x89PNG") and earned.badge_uuid.encode() in png
    assert pdf.startswith(b"%PDF")
    assert f"/badges/{earned.badge_uuid}" in text_of(message)

    for _ in range(2):
        assert post_panel(earned, f"/{earned.badge_uuid}/email").status_code == 200
    with nothing_changes(app):
        refused = post_panel(earned, f"/{earned.badge_uuid}/email")
    assert refused.status_code == 429
    assert "emailed to you 3 times in the last hour already" in refused.text
    assert len(mailbox.deliver()) == 2  # the fourth was never queued

    from lti_tool.badges.models import BadgeEvent
    from lti_tool.extensions import db

    with app.app_context():
        events = db.session.scalars(db.select(BadgeEvent).where(BadgeEvent.action == "emailed to self")).all()
        assert len(events) == 3
        for event in events:  # an hour later, it can be sent again
            event.at = event.at - timedelta(minutes=61)
        db.session.commit()
    assert post_panel(earned, f"/{earned.badge_uuid}/email").status_code == 200
    assert len(mailbox.deliver()) == 1


def test_the_name_choice_and_the_public_page_reach_the_public(app, platform, live_tool):
    earned = earn_badge(app, platform)
    uuid = earned.badge_uuid
    verify_url = f"{live_tool.url}/badges/{uuid}"
    assert "Ada Lovelace" in requests.get(verify_url, timeout=10).text

    chosen = post_panel(earned, f"/{uuid}/display-name", {"display_name": "initials"})
    assert chosen.status_code == 200 and "notice=name-saved" in chosen.url
    assert re.search(r'value="initials" checked', chosen.text)
    public = requests.get(verify_url, timeout=10).text
    assert "Ada L." in public and "Lovelace" not in public

    post_panel(earned, f"/{uuid}/display-name", {"display_name": "hidden"})
    public = requests.get(verify_url, timeout=10).text
    assert "Ada" not in public and "Lovelace" not in public

    with nothing_changes(app):
        refused = post_panel(earned, f"/{uuid}/display-name", {"display_name": "nickname"})
    assert refused.status_code == 400 and "Choose the full name, the initials, or no name." in refused.text

    # the public "my badges" page: private until the earner makes it public, and private again on request
    panel = open_panel(earned)
    assert "Make it public" in panel.text and "/earners/" not in panel.text
    made_public = post_panel(earned, "/public", {"public": "1"})
    assert made_public.status_code == 200 and "notice=public" in made_public.url
    address = field_value(made_public.text, "public-url")
    assert re.fullmatch(rf"{re.escape(live_tool.url)}/earners/[A-Za-z0-9_-]{{16}}", address)
    shown = requests.get(address, timeout=10)
    assert shown.status_code == 200 and TITLE in shown.text
    post_panel(earned, f"/{uuid}/display-name", {"display_name": "full"})
    assert "Ada Lovelace" in requests.get(address, timeout=10).text
    made_private = post_panel(earned, "/public", {"public": "0"})
    assert "Make it public" in made_private.text
    assert requests.get(address, timeout=10).status_code == 404
    assert post_panel(earned, "/public", {"public": "1"}).status_code == 200
    assert field_value(open_panel(earned).text, "public-url") == address  # the same address every time


def test_the_submission_page_and_the_navigation_lead_to_the_panel(app, platform):
    earned = earn_badge(app, platform)
    page = earned.submitted.browser.get(earned.submitted.page.url)
    block = re.search(r'<div class="your-badge" id="your-badge" data-badge-status="issued">.*?</div>', page.text,
                      re.S).group(0)
    assert "Your badge" in block
    target = link_named(block, "Open your badge")
    assert target.startswith("/my-badges/?ltik=") and target.endswith(f"#badge-{earned.badge_uuid}")
    assert link_named(page.text, "My badges").startswith("/my-badges/?ltik=")
    assert earned.submitted.browser.get(tool_of(earned) + target).status_code == 200

    # the assessor's launch has no "My badges" (it is the educator's)
    from tests.assessment_road import launch_assessor

    assessor = launch_assessor(platform)
    assert "My badges" not in assessor.queue.text


def test_a_revoked_badge_says_so_and_is_neither_shared_nor_sent(app, platform):
    earned = earn_badge(app, platform)
    from lti_tool.badges import issuing
    from lti_tool.badges.models import Badge
    from lti_tool.extensions import db

    with app.app_context():
        badge = db.session.scalar(db.select(Badge).where(Badge.uuid == earned.badge_uuid))
        issuing.revoke(badge, badge.user_id, "Evidence was not the earner's own.")
        db.session.commit()
    page = open_panel(earned)
    card = re.search(rf'<article[^>]*id="badge-{earned.badge_uuid}".*?</article>', page.text, re.S).group(0)
    assert re.search(r"data-status>Revoked on \d+ \w+ \d{4}: Evidence was not the earner&#39;s own.</span>", card)
    assert "Add to LinkedIn profile" not in card and "Email it to me" not in card and "record.pdf" not in card
    uuid = earned.badge_uuid
    with nothing_changes(app):
        refused = post_panel(earned, f"/{uuid}/email")
    assert refused.status_code == 409 and "Only an issued badge can be emailed." in refused.text
    record = earned.submitted.browser.get(f"{tool_of(earned)}/my-badges/{uuid}/record.pdf",
                                          params={"ltik": earned.submitted.ltik})
    assert record.status_code == 404


def test_the_empty_panel_says_what_earns_a_badge(app, platform):
    submitted = submit_work(platform)
    from tests.assessment_road import origin_of

    panel = submitted.browser.get(origin_of(submitted.page) + "/my-badges/", params={"ltik": submitted.ltik})
    assert panel.status_code == 200
    assert "No badges yet" in panel.text and "assessed <strong>Earned</strong>" in panel.text
    assert link_named(panel.text, "Go to your submission for this activity").startswith("/lti/home?ltik=")
    assert link_named(panel.text, "Browse the library of micro-credentials").startswith("/catalog/?ltik=")


def test_the_your_badge_block_names_only_the_launched_persons_own_badge(app, platform):
    """A page that shows someone's attempt to somebody else (a reviewer) links to no panel of theirs."""
    earned = earn_badge(app, platform)
    from flask import g

    from lti_tool.badges.panel_views import badge_of_attempt
    from lti_tool.extensions import db
    from lti_tool.lti.launch_context import LaunchContext
    from lti_tool.submissions.models import Attempt

    with app.test_request_context():
        attempt = db.session.get(Attempt, earned.submitted.attempt_id)
        owner = attempt.enrollment.user_id
        g.lti_launch = LaunchContext("launch", owner, 1, None, None, ("educator",))
        assert badge_of_attempt(attempt).uuid == earned.badge_uuid
        g.lti_launch = LaunchContext("launch", owner + 1, 1, None, None, ("instructor",))
        assert badge_of_attempt(attempt) is None
