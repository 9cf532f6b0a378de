"""The mail outbox against a real SMTP server (aiosmtpd on loopback, STARTTLS and AUTH required): attachments,
a server that is down, a refused recipient shown to admins, a renderer that raises, a worker that died; and the
file backend as the demo LMS shows it."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import re
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image
from sqlalchemy import update

from lti_tool.badges.record import record_of_completion_pdf
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.lti.models import Registration
from lti_tool.mail import outbox
from lti_tool.mail.models import MailMessage
from lti_tool.mail.transport import mail_folder
from tests.integration.test_demo import serve_demo
from tests.nothing_changed import nothing_changes
from tests.platform.browser import forms_in

USERNAME = "mcb-mailer"
PASSWORD = "s3cret-only-after-tls"  # the test server's
EARNER = "ada@school.example"
REFUSED = "nobody@school.example"
KIND = "test_badge_with_attachments"
BROKEN_KIND = "test_renderer_that_raises"
SUPERSEDED_KIND = "test_renderer_that_supersedes"


def _png() -> bytes:
    image = Image.new("RGBA", (64, 64), (11, 92, 173, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


PNG = _png()
PDF = record_of_completion_pdf(earner_name="Ada Lovelace", microcredential="Reflective Practice",
                               organization="Springfield Academy", issued_on=datetime(2026, 12, 2).date(),
                               inservice_hours=10, verify_url="https://tool.example/badges/1", credential_id="1",
                               badge_png=PNG)


def render_with_attachments(payload: dict) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"You earned “{payload['title']}”"
    message.set_content(f"Congratulations! Verify it at {payload['verify_url']}")
    message.add_alternative(f"<p>Congratulations! <a href=\"{payload['verify_url']}\">Verify it</a></p>",
                            subtype="html")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="badge.png")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="record-of-completion.pdf")
    return message


def render_broken(payload: dict) -> EmailMessage:
    raise RuntimeError(f"the template for {payload['title']} is missing")


def render_superseded(payload: dict) -> EmailMessage:
    raise outbox.Superseded("the badge was revoked before the email went out",
                            subject=f"You earned “{payload['title']}”")


outbox.register_renderer(KIND, render_with_attachments)
outbox.register_renderer(BROKEN_KIND, render_broken)
outbox.register_renderer(SUPERSEDED_KIND, render_superseded)


def payload(**extra) -> dict:
    return {"title": "Reflective Practice", "verify_url": "https://tool.example/badges/1", **extra}


# -- the SMTP server ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and localhost, made for this test run."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile


class Mailbox:
    """aiosmtpd handler: keeps what it received, refuses some recipients for good, logs each login."""

    def __init__(self):
        self.received: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[str, str, bool]] = []  # (user, password, TLS was on)
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd's hook names
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((user, password, session.ssl is not None))
        return AuthResult(success=(user, password) == (USERNAME, PASSWORD), handled=False)

    def messages(self) -> list[EmailMessage]:
        return [BytesParser(policy=policy.default).parsebytes(data) for _, _, data in self.received]


class SlowMailbox(Mailbox):
    """A mail server that takes its time over DATA (`delays`: recipient → seconds), as a busy relay does."""

    def __init__(self, delays: dict[str, float]):
        super().__init__()
        self.delays = delays

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        await asyncio.sleep(self.delays.get(envelope.rcpt_tos[0], 0))
        return await super().handle_DATA(server, session, envelope)


class SmtpServer:
    def __init__(self, tls_files):
        self.mailbox = Mailbox()
        self.tls_files = tls_files
        with socket.socket() as probe:  # a free port; nothing listens on it until start()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*map(str, self.tls_files))
        self.controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, server_hostname="localhost",
            tls_context=context, require_starttls=True, auth_require_tls=True,
            authenticator=self.mailbox.authenticate,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(app, tls_files, monkeypatch):
    """The SMTP server (not started: `smtp.start()`), and the app configured to send through it."""
    server = SmtpServer(tls_files)
    for key, value in {
        "MAIL_BACKEND": "smtp", "MAIL_SMTP_HOST": "127.0.0.1", "MAIL_SMTP_PORT": server.port,
        "MAIL_SMTP_USERNAME": USERNAME, "MAIL_SMTP_PASSWORD": PASSWORD, "MAIL_SMTP_STARTTLS": True,
        "MAIL_SMTP_TLS_VERIFY": False, "MAIL_SMTP_TIMEOUT": 5.0,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    yield server
    server.stop()


def row(message_id: int) -> MailMessage:
    db.session.expire_all()
    return db.session.get(MailMessage, message_id)


def make_due(message_id: int) -> None:
    db.session.execute(update(MailMessage).where(MailMessage.id == message_id)
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


# -- SMTP ------------------------------------------------------------------------------------------------------
def test_an_email_goes_out_over_starttls_with_its_attachments(app_context, smtp):
    smtp.start()
    message = outbox.enqueue(KIND, EARNER, payload(registration_id=1))
    db.session.commit()

    assert outbox.run_once(app_context) == 1

    [(mail_from, recipients, _)] = smtp.mailbox.received
    assert (mail_from, recipients) == ("no-reply@localhost", [EARNER])
    [email] = smtp.mailbox.messages()
    assert email["To"] == EARNER
    assert email["From"] == "Micro-Credential Bridge <no-reply@localhost>"
    assert email["Subject"] == "You earned “Reflective Practice”"
    assert re.fullmatch(rf"<mail-{message.id}\.\d{{14}}@localhost>", email["Message-ID"])
    assert "Verify it at https://tool.example/badges/1" in email.get_body(("plain",)).get_content()
    attachments = {part.get_filename(): part for part in email.iter_attachments()}
    assert attachments["badge.png"].get_content_type() == "image/png"
    assert attachments["badge.png"].get_content() == PNG
    assert attachments["record-of-completion.pdf"].get_content_type() == "application/pdf"
    assert attachments["record-of-completion.pdf"].get_content() == PDF
    assert smtp.mailbox.logins == [(USERNAME, PASSWORD, True)]  # the password went only inside TLS

    sent = row(message.id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, None)
    assert sent.subject == "You earned “Reflective Practice”"
    assert sent.sent_at is not None and sent.leased_by is None and sent.leased_until is None
    assert outbox.run_once(app_context) == 0
    assert len(smtp.mailbox.received) == 1


def test_enqueue_writes_nothing_until_the_caller_commits(app_context, smtp):
    smtp.start()
    outbox.enqueue(KIND, EARNER, payload())
    db.session.rollback()

    assert outbox.run_once(app_context) == 0
    assert smtp.mailbox.received == []


@pytest.mark.parametrize("address", ["", "not-an-address", "a@b.example\r\nBcc: c@d.example", "A <a@b.example>"])
def test_enqueue_refuses_what_is_not_one_address(app_context, address):
    from lti_tool.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        outbox.enqueue(KIND, address, payload())


def test_a_server_that_is_down_delays_the_email_and_it_goes_out_once_when_it_is_back(app_context, smtp):
    message = outbox.enqueue(KIND, EARNER, payload())
    db.session.commit()

    assert outbox.run_once(app_context) == 1  # nothing listens on the port

    waiting = row(message.id)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert f"127.0.0.1:{smtp.port} could not be reached" in waiting.last_error
    assert waiting.next_attempt_at > utcnow() + timedelta(seconds=25)  # 30 s after a first failure
    assert waiting.leased_by is None
    assert outbox.run_once(app_context) == 0  # not due yet

    smtp.start()
    make_due(message.id)
    assert outbox.run_once(app_context) == 1
    assert outbox.run_once(app_context) == 0

    assert len(smtp.mailbox.received) == 1
    sent = row(message.id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)


def test_backoff_doubles_up_to_an_hour_and_the_attempts_run_out(app_context, smtp, monkeypatch):
    monkeypatch.setitem(app_context.config, "MAIL_MAX_ATTEMPTS", 3)
    message = outbox.enqueue(KIND, EARNER, payload())
    db.session.commit()
    assert [outbox.backoff_seconds(n) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]

    statuses = []
    for _ in range(3):
        make_due(message.id)
        outbox.run_once(app_context)
        statuses.append((row(message.id).status, row(message.id).attempts))

    assert statuses == [("pending", 1), ("pending", 2), ("failed", 3)]


def test_a_certificate_that_is_not_trusted_is_a_temporary_failure(app_context, smtp, monkeypatch):
    monkeypatch.setitem(app_context.config, "MAIL_SMTP_TLS_VERIFY", True)
    smtp.start()
    message = outbox.enqueue(KIND, EARNER, payload())
    db.session.commit()

    outbox.run_once(app_context)

    waiting = row(message.id)
    assert waiting.status == "pending"
    assert "CERTIFICATE_VERIFY_FAILED" in waiting.last_error
    assert smtp.mailbox.logins == [] and smtp.mailbox.received == []


def test_a_wrong_password_is_a_temporary_failure(app_context, smtp, monkeypatch):
    monkeypatch.setitem(app_context.config, "MAIL_SMTP_PASSWORD", "wrong")
    smtp.start()
    message = outbox.enqueue(KIND, EARNER, payload())
    db.session.commit()

    outbox.run_once(app_context)

    waiting = row(message.id)
    assert waiting.status == "pending"
    assert "535" in waiting.last_error and "MAIL_SMTP_PASSWORD" in waiting.last_error


@pytest.fixture
def admin_ltik(app, browser, catalog):
    launch = browser.launch(person="admin")
    assert launch.ltik
    return launch.ltik


def _registration_id(app, platform) -> int:
    with app.app_context():
        return db.session.scalar(db.select(Registration.id).where(Registration.issuer == platform.issuer))


def test_a_refused_recipient_fails_at_once_and_an_admin_sends_it_again(app, smtp, platform, browser, live_tool,
                                                                       admin_ltik):
    registration_id = _registration_id(app, platform)
    smtp.start()
    smtp.mailbox.refuse.add(REFUSED)
    with app.app_context():
        refused = outbox.enqueue(KIND, REFUSED, payload(registration_id=registration_id))
        elsewhere = outbox.enqueue(KIND, "other@school.example", payload(registration_id=registration_id + 1000))
        smtp.mailbox.refuse.add("other@school.example")
        db.session.commit()
        refused_id, elsewhere_id = refused.id, elsewhere.id

        assert outbox.run_once(app) == 2

        failed = row(refused_id)
        assert (failed.status, failed.attempts) == ("failed", 1)  # no retry after a 5xx on RCPT
        assert "550 5.1.1" in failed.last_error
        assert failed.subject == "You earned “Reflective Practice”"

    page = browser.get(f"{live_tool.url}/admin/outbox/", params={"ltik": admin_ltik})
    assert page.status_code == 200
    html = unescape(page.text)
    assert REFUSED in html
    assert "550 5.1.1" in html
    assert "You earned “Reflective Practice”" in html
    assert '<td data-mail-status="failed" class="error">1</td>' in page.text
    assert "other@school.example" not in html  # another platform's email

    [form] = [f for f in forms_in(page.text) if f["action"].endswith(f"/admin/outbox/mail/{refused_id}/retry")]
    smtp.mailbox.refuse.clear()  # the address was corrected in the mail system
    retried = browser.post(urljoin(page.url, form["action"]), data=form["fields"], allow_redirects=False)
    assert retried.status_code == 302
    assert "ltik=" in retried.headers["Location"]
    with nothing_changes(app):
        other = browser.post(f"{live_tool.url}/admin/outbox/mail/{elsewhere_id}/retry", data={"ltik": admin_ltik})
    assert other.status_code == 404

    with app.app_context():
        waiting = row(refused_id)
        assert (waiting.status, waiting.attempts) == ("pending", 0)
        assert outbox.run_once(app) == 1
        assert row(refused_id).status == "sent"
        assert row(elsewhere_id).status == "failed"
    assert [recipients for _, recipients, _ in smtp.mailbox.received] == [[REFUSED]]
    with nothing_changes(app):
        again = browser.post(urljoin(page.url, form["action"]), data=form["fields"], allow_redirects=False)
    assert again.status_code == 409  # only a failed email can be sent again
    page = browser.get(f"{live_tool.url}/admin/outbox/", params={"ltik": admin_ltik})
    assert "No email has failed" in page.text
    assert '<td data-mail-status="sent">1</td>' in page.text


def test_only_admins_retry_emails(app, smtp, platform, browser, live_tool, catalog):
    registration_id = _registration_id(app, platform)
    with app.app_context():
        message = outbox.enqueue(KIND, REFUSED, payload(registration_id=registration_id))
        message.status = "failed"
        db.session.commit()
        message_id = message.id
    learner = browser.launch(person="learner")
    assert learner.ltik

    with nothing_changes(app):
        response = browser.post(f"{live_tool.url}/admin/outbox/mail/{message_id}/retry", data={"ltik": learner.ltik})

    assert response.status_code == 403
    with app.app_context():
        assert row(message_id).status == "failed"


def test_a_renderer_that_raises_fails_its_email_and_the_next_one_goes_out(app_context, smtp):
    smtp.start()
    broken = outbox.enqueue(BROKEN_KIND, EARNER, payload())
    unknown = outbox.enqueue("test_kind_nobody_registered", EARNER, payload())
    good = outbox.enqueue(KIND, EARNER, payload())
    db.session.commit()

    assert outbox.run_once(app_context) == 3

    failed = row(broken.id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert "the template for Reflective Practice is missing" in failed.last_error
    waiting = row(unknown.id)  # a worker of an older release: waits for one that knows the kind
    assert waiting.status == "pending"
    assert "No renderer is registered" in waiting.last_error
    assert row(good.id).status == "sent"
    assert len(smtp.mailbox.received) == 1


def test_a_lease_that_ran_out_is_claimed_again_and_sent_once(app_context, smtp):
    smtp.start()
    message = outbox.enqueue(KIND, EARNER, payload())
    db.session.commit()
    assert outbox.claim("worker-that-dies", 10) == [message.id]  # then it crashed before sending

    assert outbox.run_once(app_context) == 0  # its lease still holds
    db.session.execute(update(MailMessage).where(MailMessage.id == message.id)
                       .values(leased_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert outbox.run_once(app_context, worker_id="worker-2") == 1

    assert len(smtp.mailbox.received) == 1
    sent = row(message.id)
    assert (sent.status, sent.attempts) == ("sent", 1)
    # The first worker wakes up: the message is no longer its own, nothing is sent twice.
    with app_context.app_context():
        assert outbox.process(message.id, "worker-that-dies") is None
    assert len(smtp.mailbox.received) == 1
    assert row(message.id).status == "sent"


def test_a_batch_of_slow_sends_stays_its_workers_and_each_message_goes_out_once(app_context, smtp, monkeypatch):
    """The lease is renewed right before each message is sent (for the rest of the batch too): with a lease of 2 s
    and a first send of 0.6 s, the second message (1.6 s) starts with a fresh lease instead of the 1.4 s left of
    the claim's — without it, another worker takes it over at 2 s while it is still being sent."""
    lease = 2.0
    monkeypatch.setitem(app_context.config, "MAIL_LEASE_SECONDS", lease)
    delays = {"first@school.example": 0.3 * lease, "second@school.example": 0.8 * lease,
              "third@school.example": 0.8 * lease}
    smtp.mailbox = SlowMailbox(delays)
    smtp.start()
    messages = [outbox.enqueue(KIND, address, payload()) for address in delays]
    db.session.commit()
    ids = [message.id for message in messages]
    db.session.remove()
    first_done = threading.Event()
    results: dict[str, int] = {}

    def first_worker() -> None:
        try:
            results["worker-1"] = outbox.run_once(app_context, worker_id="worker-1")
        finally:
            first_done.set()

    thread = threading.Thread(target=first_worker)
    started = time.monotonic()
    thread.start()
    taken_over = 0
    while not first_done.wait(0.05):  # a second worker, polling as run_forever does, the whole time
        if time.monotonic() - started > 0.1:  # once the first has claimed its batch
            taken_over += outbox.run_once(app_context, worker_id="worker-2")
    thread.join(30)

    assert results["worker-1"] == 3
    assert taken_over == 0  # nothing the first worker held was claimed again while it was sending
    assert time.monotonic() - started > 1.5 * lease  # the batch did outlast one lease
    assert sorted(recipients[0] for _, recipients, _ in smtp.mailbox.received) == sorted(delays)  # each once
    assert [row(message_id).status for message_id in ids] == ["sent"] * 3
    assert outbox.run_once(app_context, worker_id="worker-2") == 0
    assert len(smtp.mailbox.received) == 3


def test_an_email_its_renderer_supersedes_is_never_sent_nor_retried(app, smtp, platform, browser, live_tool,
                                                                   admin_ltik):
    registration_id = _registration_id(app, platform)
    smtp.start()
    with app.app_context():
        message = outbox.enqueue(SUPERSEDED_KIND, EARNER, payload(registration_id=registration_id))
        db.session.commit()
        message_id = message.id

        assert outbox.run_once(app) == 1

        kept = row(message_id)
        assert (kept.status, kept.attempts) == ("superseded", 0)
        assert kept.last_error == "the badge was revoked before the email went out"
        assert kept.subject == "You earned “Reflective Practice”"
        assert kept.leased_by is None and kept.leased_until is None and kept.sent_at is None
        make_due(message_id)
        assert outbox.run_once(app) == 0  # a final state: never claimed again
        from lti_tool.core.errors import Conflict

        with pytest.raises(Conflict):
            outbox.retry(row(message_id))
        db.session.rollback()
    assert smtp.mailbox.received == []

    page = browser.get(f"{live_tool.url}/admin/outbox/", params={"ltik": admin_ltik})
    assert page.status_code == 200
    assert '<td data-mail-status="superseded">1</td>' in page.text
    assert '<td data-mail-status="failed" class="">0</td>' in page.text  # counted apart from failures
    listed = page.text.split(f'<tr id="mail-{message_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-mail-status="superseded"' in listed and EARNER in listed
    assert "not sent: the badge was revoked before the email went out" in listed
    assert "You earned “Reflective Practice”" in unescape(listed)
    assert f"/admin/outbox/mail/{message_id}/retry" not in page.text  # nothing to send again
    with nothing_changes(app):
        retried = browser.post(f"{live_tool.url}/admin/outbox/mail/{message_id}/retry", data={"ltik": admin_ltik})
    assert retried.status_code == 409


def test_workers_claiming_at_the_same_time_never_share_an_email(app_context, smtp):
    messages = [outbox.enqueue(KIND, f"earner-{n}@school.example", payload()) for n in range(30)]
    db.session.commit()
    ids = {m.id for m in messages}
    db.session.remove()
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(3)

    def claim_all(worker_id: str) -> None:
        with app_context.app_context():
            start.wait()
            mine = claimed.setdefault(worker_id, [])
            while batch := outbox.claim(worker_id, 4):
                mine.extend(batch)
            db.session.remove()

    threads = [threading.Thread(target=claim_all, args=(f"worker-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    everything = [message_id for batch in claimed.values() for message_id in batch]
    assert sorted(everything) == sorted(ids)  # each exactly once
    leased_by = dict(db.session.execute(db.select(MailMessage.id, MailMessage.leased_by)).all())
    assert all(leased_by[message_id] == worker for worker, batch in claimed.items() for message_id in batch)


# -- the file backend and the demo LMS's mail pages ------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory)


def test_the_file_backend_writes_an_eml_that_the_demo_shows(demo):
    assert demo.app.config["MAIL_BACKEND"] == "file"
    with demo.app.app_context():
        message = outbox.enqueue(KIND, EARNER, payload())
        db.session.commit()
        message_id = message.id
        assert outbox.run_once(demo.app) == 1
        assert row(message_id).status == "sent", row(message_id).last_error
    folder = mail_folder(demo.app)
    assert folder == Path(demo.app.instance_path) / "mail"
    [written] = [f for f in folder.iterdir()]
    assert re.fullmatch(rf"\d{{8}}T\d{{12}}Z-{message_id}\.eml", written.name)
    assert BytesParser(policy=policy.default).parsebytes(written.read_bytes())["To"] == EARNER

    course = requests.get(f"{demo.url}/demo", timeout=10)
    assert "Mail sent by the tool (1)" in course.text
    listing = requests.get(f"{demo.url}/demo/mail", timeout=10)
    assert listing.status_code == 200
    text = unescape(listing.text)
    assert EARNER in text and "You earned “Reflective Practice”" in text
    assert "badge.png" in text and "record-of-completion.pdf" in text
    detail_path = f"/demo/mail/{written.name}"
    assert f'href="{detail_path}"' in listing.text

    detail = requests.get(demo.url + detail_path, timeout=10)
    assert detail.status_code == 200
    assert "Verify it at https://tool.example/badges/1" in unescape(detail.text)
    assert re.search(r'<iframe id="mail-html" sandbox srcdoc="[^"]*&lt;p&gt;Congratulations!', detail.text)
    links = re.findall(rf'href="({re.escape(detail_path)}/\d+)"', detail.text)
    assert len(links) == 2
    downloads = [requests.get(demo.url + link, timeout=10) for link in links]
    assert [d.content for d in downloads] == [PNG, PDF]
    assert downloads[1].headers["Content-Type"] == "application/pdf"
    assert downloads[1].headers["Content-Disposition"].startswith("attachment;")


def test_the_demo_serves_only_the_mail_folders_own_files(demo):
    folder = mail_folder(demo.app)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.eml").write_bytes(b"Subject: not the tool's\n\nhello")
    (folder / ".20260101T000000000000Z-9.eml.tmp").write_bytes(b"Subject: half written\n\n")
    client = demo.app.test_client()
    for name in ("secret_key", "..%2Fsecret_key", "..%2F..%2Fetc%2Fpasswd", "notes.eml",
                 ".20260101T000000000000Z-9.eml.tmp", "20260101T000000000000Z-404.eml", "%2Fetc%2Fpasswd",
                 "20260101T000000000000Z-1.eml%00", "..", "."):
        assert client.get(f"/demo/mail/{name}").status_code == 404, name
        assert client.get(f"/demo/mail/{name}/0").status_code == 404, name
    assert client.get("/demo/mail/../secret_key").status_code == 404
    listing = client.get("/demo/mail").get_data(as_text=True)
    assert "notes.eml" not in listing and "half written" not in listing
    written = sorted(f.name for f in folder.iterdir() if f.name.endswith(".eml") and f.name[0].isdigit())
    if written:
        assert client.get(f"/demo/mail/{written[0]}/99").status_code == 404
