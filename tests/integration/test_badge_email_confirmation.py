"""When the LMS shares no email, the badge waits until the earner proves an address by a link — over real HTTP,
the link opened in a fresh browser outside the LMS (no cookies, no launch), as from a mailbox."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import requests

from tests.badge_panel_road import Mailbox, attachments, link_named, open_panel, post_panel, text_of, tool_of
from tests.badge_road import badge_row, earn_badge
from tests.nothing_changed import nothing_changes
from tests.platform.browser import forms_in

pytestmark = pytest.mark.usefixtures("running_term")

TITLE = "Educator Self-Assessment and Professional Growth"
HOME = "ada.home@example.org"
WAITING = ("Your badge is ready to be issued. Your course did not share your email address: confirm one and we "
           "will issue it.")
CONFIRM_LINK = re.compile(r"https?://[^/\s]+/my-badges/confirm\?token=[A-Za-z0-9_-]+")
USED = ("This link was used already. Your badges are in your course: open the activity and choose "
        "My badges.")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def _awaiting(app, platform):
    earned = earn_badge(app, platform, share_email=False)
    assert badge_row(app, earned.assessment_id).status == "awaiting_email"
    return earned


def _ask(earned, address: str = HOME):
    return post_panel(earned, "/email", {"email": address})


def _link_in(message) -> str:
    (link,) = set(CONFIRM_LINK.findall(text_of(message)))
    return link


def _confirmations(app):
    from lti_tool.badges.models import EmailConfirmation
    from lti_tool.extensions import db

    with app.app_context():
        rows = db.session.scalars(db.select(EmailConfirmation).order_by(EmailConfirmation.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_a_confirmed_address_issues_the_waiting_badge(app, platform, live_tool):
    earned = _awaiting(app, platform)
    mailbox = Mailbox(app)
    assert mailbox.deliver() == []  # nothing was sent: there is no address yet

    # the submission page and the panel say so, and ask for an address
    page = earned.submitted.browser.get(earned.submitted.page.url)
    block = re.search(r'<div class="your-badge".*?</div>', page.text, re.S).group(0)
    assert 'data-badge-status="awaiting_email"' in block and "did not share your email address" in block
    assert link_named(block, "Confirm your email address").endswith("#confirm-email")
    panel = open_panel(earned)
    assert WAITING in panel.text and 'id="email-form"' in panel.text
    assert earned.badge_uuid not in panel.text  # no public link, no downloads: the badge is not issued yet
    assert requests.get(f"{live_tool.url}/badges/{earned.badge_uuid}", timeout=10).status_code == 404

    asked = _ask(earned, "  Ada.Home@Example.org ")
    assert asked.status_code == 200 and "notice=confirmation-sent" in asked.url, asked.text[:500]
    assert "We sent a link to <strong>a…@e….org</strong>; open it to issue your badge (valid 24 hours)." in asked.text
    assert re.search(r'<button type="submit" class="secondary small-button">Resend</button>', asked.text)
    (stored,) = _confirmations(app)
    assert stored.email == HOME and stored.confirmed_at is None
    assert stored.expires_at - stored.created_at == timedelta(hours=24)

    (message,) = mailbox.deliver()
    assert message["To"] == HOME
    link = _link_in(message)
    token = link.rsplit("=", 1)[1]
    assert link.startswith(live_tool.url + "/my-badges/confirm?token=")  # never in the path: logs show paths
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash

    # opened from the mailbox: a fresh browser, no cookies, no launch reference
    outside = requests.Session()
    shown = outside.get(link, timeout=10)
    assert shown.status_code == 200, shown.text[:500]
    assert f"Confirm {HOME} for your badges" in shown.text
    assert shown.headers["Cache-Control"] == "no-store" and "My badges</a>" not in shown.text
    assert badge_row(app, earned.assessment_id).status == "awaiting_email"  # opening the link changed nothing
    (form,) = forms_in(shown.text)
    assert form["method"] == "post" and form["action"] == "/my-badges/confirm"
    assert form["fields"] == {"token": token}

    done = outside.post(f"{live_tool.url}/my-badges/confirm", data={"token": token}, timeout=10)
    assert done.status_code == 200, done.text[:500]
    assert "Your badge is issued" in done.text
    verify_url = f"{live_tool.url}/badges/{earned.badge_uuid}"
    assert link_named(done.text, f"Verification page of “{TITLE}”") == verify_url
    assert "go back to your course" in done.text
    badge = badge_row(app, earned.assessment_id)
    assert (badge.status, badge.recipient_email) == ("issued", HOME)
    verification = requests.get(verify_url, timeout=10)
    assert verification.status_code == 200 and "Valid" in verification.text

    (issued_mail,) = mailbox.deliver()
    assert issued_mail["To"] == HOME and TITLE in issued_mail["Subject"]
    assert {kind for kind, _ in attachments(issued_mail).values()} == {"image/png", "application/pdf"}

    from lti_tool.badges.models import BadgeEvent, EarnerProfile
    from lti_tool.extensions import db

    with app.app_context():
        profile = db.session.scalar(db.select(EarnerProfile))
        assert profile.confirmed_email == HOME and profile.email_confirmed_at is not None
        actions = db.session.scalars(db.select(BadgeEvent.action).order_by(BadgeEvent.id)).all()
        assert actions == ["awaiting email", "email confirmed", "issued"]

    # the panel now shows the issued badge; the link works once only
    panel = open_panel(earned)
    assert WAITING not in panel.text and f'id="badge-{earned.badge_uuid}"' in panel.text
    # Whoever holds a used link (a forwarded email, a shared computer) learns nothing about the person.
    with nothing_changes(app):
        answers = (outside.post(link, timeout=10), requests.get(link, timeout=10))
    for answer in answers:
        assert answer.status_code == 409
        assert USED in answer.text
        assert "/badges/" not in answer.text and earned.badge_uuid not in answer.text  # no verification page
        assert not EMAIL.search(answer.text) and HOME not in answer.text and "a…@e…" not in answer.text
        assert TITLE not in answer.text
        assert answer.headers["Cache-Control"] == "no-store"
    assert mailbox.deliver() == []  # nothing issued or sent twice


def test_an_expired_link_says_so_and_issues_nothing(app, platform):
    earned = _awaiting(app, platform)
    mailbox = Mailbox(app)
    _ask(earned)
    link = _link_in(mailbox.deliver()[0])
    from lti_tool.badges.models import EmailConfirmation
    from lti_tool.extensions import db

    with app.app_context():
        row = db.session.scalar(db.select(EmailConfirmation))
        row.expires_at = row.expires_at - timedelta(hours=24, seconds=1)
        db.session.commit()
    for method in ("get", "post"):
        with nothing_changes(app):
            answer = requests.request(method, link, timeout=10)
        assert answer.status_code == 410, method
        assert "This link expired: ask for a new one from the badge page in your course" in answer.text
        assert not EMAIL.search(answer.text) and "/badges/" not in answer.text
    assert badge_row(app, earned.assessment_id).status == "awaiting_email"
    # …and the panel offers a new one (the expired link is not "pending")
    panel = open_panel(earned)
    assert "We sent a link" not in panel.text and 'id="email-form"' in panel.text


def test_a_used_link_past_its_hours_says_only_that_it_expired(app, platform):
    earned = _awaiting(app, platform)
    mailbox = Mailbox(app)
    _ask(earned)
    link = _link_in(mailbox.deliver()[0])
    assert requests.post(link, timeout=10).status_code == 200
    assert badge_row(app, earned.assessment_id).status == "issued"
    from lti_tool.badges.models import EmailConfirmation
    from lti_tool.extensions import db

    with app.app_context():
        row = db.session.scalar(db.select(EmailConfirmation))
        row.expires_at = row.expires_at - timedelta(hours=24, seconds=1)
        db.session.commit()
    for method in ("get", "post"):
        with nothing_changes(app):
            answer = requests.request(method, link, timeout=10)
        assert answer.status_code == 410, method
        assert "This link expired" in answer.text and USED not in answer.text
        assert not EMAIL.search(answer.text) and "/badges/" not in answer.text and TITLE not in answer.text


def test_an_unknown_link_is_not_found_with_the_same_way_on(app, platform, live_tool):
    _awaiting(app, platform)
    for token in ("x" * 43, "not-a-token", "y" * 300):
        with nothing_changes(app):
            answer = requests.post(f"{live_tool.url}/my-badges/confirm/{token}", timeout=10)
        assert answer.status_code == 404
        assert "This confirmation link is not valid." in answer.text
        assert "ask for a new one from the badge page in your course" in answer.text


def test_a_new_link_replaces_the_earlier_one(app, platform):
    earned = _awaiting(app, platform)
    mailbox = Mailbox(app)
    _ask(earned, "ada.typo@exmaple.org")
    first = _link_in(mailbox.deliver()[0])
    resent = _ask(earned)
    assert resent.status_code == 200
    second = _link_in(mailbox.deliver()[0])
    with nothing_changes(app):
        assert requests.post(first, timeout=10).status_code == 410  # the mistyped address confirms nothing
    assert badge_row(app, earned.assessment_id).status == "awaiting_email"
    assert requests.post(second, timeout=10).status_code == 200
    assert badge_row(app, earned.assessment_id).recipient_email == HOME


@pytest.mark.parametrize(("typed", "why"), [
    ("not-an-email", "Enter an email address like name@example.org"),
    ("ada@localhost", "should be a domain with a dot"),
    ("ada@@example.org", "Enter an email address like name@example.org"),
    ("ada lovelace@example.org", "Enter an email address like name@example.org"),
    ("<ada@example.org>", "Enter an email address like name@example.org"),
    ("ada@example.", "should be a domain with a dot"),
    ("a" * 250 + "@example.org", "at most 254 characters"),
    ("   ", "Enter your email address."),
])
def test_a_refused_address_comes_back_with_what_was_typed(app, platform, typed, why):
    earned = _awaiting(app, platform)
    with nothing_changes(app):
        refused = _ask(earned, typed)
    assert refused.status_code == 400
    error = re.search(r'<p class="field-error" id="email-error">(.*?)</p>', refused.text, re.S).group(1)
    assert why in error.replace("&#34;", '"')
    field = re.search(r'<input type="email" id="email"[^>]*>', refused.text, re.S).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="email-hint email-error"' in field
    import html

    assert html.unescape(re.search(r'value="([^"]*)"', field).group(1)) == typed
    assert _confirmations(app) == [] and Mailbox(app).deliver() == []


def test_at_most_five_confirmation_emails_an_hour(app, platform):
    earned = _awaiting(app, platform)
    mailbox = Mailbox(app)
    for number in range(5):
        assert _ask(earned, f"ada{number}@example.org").status_code == 200
    with nothing_changes(app):
        refused = _ask(earned, "ada5@example.org")
    assert refused.status_code == 429
    assert "5 confirmation emails were sent in the last hour already." in refused.text
    assert 'value="ada5@example.org"' in refused.text  # what was typed is kept
    assert len(_confirmations(app)) == 5 and len(mailbox.deliver()) == 5

    from lti_tool.badges.models import EmailConfirmation
    from lti_tool.extensions import db

    with app.app_context():  # an hour later, one more may be asked for
        for row in db.session.scalars(db.select(EmailConfirmation)):
            row.created_at = row.created_at - timedelta(minutes=61)
        db.session.commit()
    assert _ask(earned, "ada5@example.org").status_code == 200


def test_no_confirmation_is_sent_when_no_badge_waits(app, platform):
    earned = earn_badge(app, platform)  # the LMS shared the email: issued at once
    with nothing_changes(app):
        refused = _ask(earned)
    assert refused.status_code == 409 and "None of your badges is waiting for an email address." in refused.text
    assert _confirmations(app) == []
    assert tool_of(earned)


def test_two_presses_at_once_issue_the_badge_once(app, platform):
    from tests.assessment_road import at_once

    earned = _awaiting(app, platform)
    mailbox = Mailbox(app)
    _ask(earned)
    link = _link_in(mailbox.deliver()[0])
    answers = at_once(lambda: requests.post(link, timeout=30), lambda: requests.post(link, timeout=30))
    assert sorted(answer.status_code for answer in answers) == [200, 409], [a.text[:300] for a in answers]
    assert badge_row(app, earned.assessment_id).status == "issued"
    assert len(mailbox.deliver()) == 1  # one issue email, not two
