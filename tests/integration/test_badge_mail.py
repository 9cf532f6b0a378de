"""The badge emails tell what happened when they were queued, not what the badge is when the worker sends them; an
issue email whose badge was revoked meanwhile never goes out (the badge is not mailed as an attachment once it is
revoked); a subject never breaks on a newline in a title. Over real HTTP: the badge earned and revoked as people do
it, the worker run afterwards (`Mailbox.deliver`), the .eml files read as a mailbox reads them."""

from __future__ import annotations

import re
from html import unescape

import pytest

from lti_tool.extensions import db
from lti_tool.mail import outbox
from tests.badge_panel_road import Mailbox, attachments, post_panel, text_of
from tests.badge_road import badge_row, earn_badge
from tests.integration.test_admin_badges import admin_ltik, client, revoke, unrevoke

pytestmark = pytest.mark.usefixtures("running_term")

SLUG = "self-assessment-growth"
TITLE = "Educator Self-Assessment and Professional Growth"
REASON = "The evidence was found to be copied from another educator's portfolio."
NOT_SENT = "not sent: the badge was revoked before the email went out"


def _mail_rows(app, kind: str):
    from lti_tool.mail.models import MailMessage

    with app.app_context():
        rows = db.session.scalars(db.select(MailMessage).where(MailMessage.kind == kind)
                                  .order_by(MailMessage.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def _retitle(app, title: str) -> None:
    from lti_tool.catalog.models import MicroCredential

    with app.app_context():
        db.session.scalar(db.select(MicroCredential).where(MicroCredential.slug == SLUG)).title = title
        db.session.commit()


def _outbox_page(live_tool, platform):
    admin = admin_ltik(platform)
    page = client(admin).get(f"{live_tool.url}/admin/outbox/", params={"ltik": admin}, timeout=10)
    assert page.status_code == 200, page.text[:500]
    return page


def test_the_revocation_email_keeps_its_reason_when_the_badge_is_reinstated_before_it_goes_out(
        app, platform, live_tool):
    earned = earn_badge(app, platform)
    mailbox = Mailbox(app)
    (issued,) = mailbox.deliver()
    assert issued["Subject"] == f"You earned the micro-credential “{TITLE}”"
    admin = admin_ltik(platform)

    assert revoke(live_tool, admin, earned.badge_uuid).status_code == 200
    assert unrevoke(live_tool, admin, earned.badge_uuid, note="Checked again.").status_code == 200
    assert badge_row(app, earned.assessment_id).revocation_reason is None  # the row no longer knows the reason
    (revoked_payload,) = [row.payload for row in _mail_rows(app, "badge_revoked")]
    assert revoked_payload["reason"] == REASON and revoked_payload["state"] == "revoked"

    revoked, reinstated = mailbox.deliver()  # the worker runs only now

    assert revoked["Subject"] == f"Your badge “{TITLE}” was revoked"
    html_text = unescape(re.sub(r"<[^>]+>", "", revoked.get_body(("html",)).get_content()))
    for body in (revoked.get_body(("plain",)).get_content(), html_text):
        assert f"Reason: {REASON}" in body
        assert re.search(r"revoked (by .* |it )on \w+ \d{1,2}, \d{4}", body), body  # the date it was revoked
    assert reinstated["Subject"] == f"Your badge “{TITLE}” is valid again"
    text = text_of(reinstated)
    assert "Verifiers see it as valid" in text and REASON not in text
    assert f"{live_tool.url}/badges/{earned.badge_uuid}" in text


def test_an_issue_email_of_a_badge_revoked_before_it_went_out_is_not_sent(app, platform, live_tool):
    mailbox = Mailbox(app)
    earned = earn_badge(app, platform)  # its issue email is queued; the worker has not run yet
    assert revoke(live_tool, admin_ltik(platform), earned.badge_uuid).status_code == 200

    delivered = mailbox.deliver()

    (told,) = delivered  # only the revocation
    assert told["Subject"] == f"Your badge “{TITLE}” was revoked" and REASON in text_of(told)
    assert not [m for m in delivered if any(kind == "image/png" for kind, _ in attachments(m).values())]
    (issue_row,) = _mail_rows(app, "badge_issued")
    assert issue_row.status == "superseded" and issue_row.sent_at is None
    assert issue_row.subject == f"You earned the micro-credential “{TITLE}”"
    assert outbox.run_once(app) == 0 and mailbox.deliver() == []  # final: never tried again

    page = _outbox_page(live_tool, platform)
    assert '<td data-mail-status="superseded">1</td>' in page.text
    assert '<td data-mail-status="sent">1</td>' in page.text
    assert '<td data-mail-status="failed" class="">0</td>' in page.text
    listed = page.text.split(f'<tr id="mail-{issue_row.id}"', 1)[1].split("</tr>", 1)[0]
    assert NOT_SENT in listed and "ada@school.example" in listed


def test_email_it_to_me_then_revoked_before_it_went_out_is_not_sent(app, platform, live_tool):
    earned = earn_badge(app, platform)
    mailbox = Mailbox(app)
    mailbox.deliver()  # the first issue email
    assert post_panel(earned, f"/{earned.badge_uuid}/email").status_code == 200
    assert revoke(live_tool, admin_ltik(platform), earned.badge_uuid).status_code == 200

    (told,) = mailbox.deliver()

    assert "was revoked" in told["Subject"] and attachments(told) == {}
    assert [row.status for row in _mail_rows(app, "badge_issued")] == ["sent", "superseded"]


def test_a_title_with_a_newline_makes_one_line_subjects(app, platform, live_tool):
    _retitle(app, "Educator Self-Assessment\nand  Professional\r\n Growth")
    earned = earn_badge(app, platform)
    mailbox = Mailbox(app)

    (issued,) = mailbox.deliver()

    assert issued["Subject"] == f"You earned the micro-credential “{TITLE}”"
    assert {kind for kind, _ in attachments(issued).values()} == {"image/png", "application/pdf"}
    admin = admin_ltik(platform)
    assert revoke(live_tool, admin, earned.badge_uuid).status_code == 200
    assert unrevoke(live_tool, admin, earned.badge_uuid).status_code == 200
    revoked, reinstated = mailbox.deliver()
    assert revoked["Subject"] == f"Your badge “{TITLE}” was revoked"
    assert reinstated["Subject"] == f"Your badge “{TITLE}” is valid again"
    assert {row.status for row in _mail_rows(app, "badge_revoked") + _mail_rows(app, "badge_reinstated")} == {"sent"}


def test_an_email_queued_by_an_older_release_is_told_from_the_row(app, platform, live_tool):
    """A payload of before this change (no title, issuer, reason): the row says what it lacks, on one line."""
    earned = earn_badge(app, platform)
    mailbox = Mailbox(app)
    mailbox.deliver()
    assert revoke(live_tool, admin_ltik(platform), earned.badge_uuid).status_code == 200
    mailbox.deliver()
    _retitle(app, "Educator Self-Assessment\nand Professional Growth")
    with app.app_context():
        (latest,) = _mail_rows(app, "badge_revoked")
        old = {key: latest.payload[key] for key in ("badge_uuid", "registration_id", "verify_url")}
        outbox.enqueue("badge_revoked", "ada@school.example", old)
        outbox.enqueue("badge_issued", "ada@school.example", old)
        db.session.commit()

    (revoked,) = mailbox.deliver()

    assert revoked["Subject"] == f"Your badge “{TITLE}” was revoked"
    assert f"Reason: {REASON}" in revoked.get_body(("plain",)).get_content()
    assert [row.status for row in _mail_rows(app, "badge_issued")] == ["sent", "superseded"]
