"""The log files after a session: the tool as production runs it (gunicorn, deploy/gunicorn.conf.py, its access and
error logs in files), driven by the independent platform — and no credential seen on the way is in a log line.

Also the development server (Werkzeug, `make run`): its request lines name no query string.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import secrets
import shutil
import socket
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from bench.platform_server import PlatformServer
from bench.tool_server import Gunicorn, free_port, set_up_tool, tool_environment
from tests.platform.browser import PlatformBrowser, forms_in

SLUG = "self-assessment-growth"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
MP4 = (24).to_bytes(4, "big") + b"ftypisom\x00\x00\x02\x00isomiso2" + bytes(4096)


class Seen:
    """Every credential that crossed the wire during the session."""

    def __init__(self):
        self.tokens: set[str] = set()

    def add(self, *values: str | None) -> None:
        self.tokens.update(v for v in values if v)

    def from_url(self, url: str) -> None:
        for name, values in parse_qs(urlsplit(url).query).items():
            if name in ("ltik", "t", "token", "state", "nonce", "id_token", "lti_message_hint", "login_hint",
                        "registration_token", "invite"):
                self.add(*values)

    def from_page(self, text: str) -> None:
        for url in re.findall(r'(?:href|src|action|data-[\w-]+)="([^"]*\?[^"]*)"', text):
            self.from_url(html.unescape(url))
        self.add(*re.findall(r'name="ltik" value="([^"]+)"', text))
        self.add(*re.findall(r'<meta name="lti-session" content="([^"]+)"', text))

    def pieces(self) -> set[str]:
        """Each token and each long part of it (a log line must not hold a signature or a payload either)."""
        found = set()
        for token in self.tokens:
            found.add(token)
            found.update(part for part in re.split(r"[.]", token) if len(part) >= 16)
        return found


def _nonce_of(id_token: str) -> str:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["nonce"]


def _keep_term_open(env: dict) -> None:
    """The sample term around today, as the test suite's `running_term` does (the tool's database, in process)."""
    from lti_tool import create_app
    from lti_tool.extensions import db
    from tests.conftest import move_terms_around_today

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "INSTANCE_PATH": env["INSTANCE_PATH"],
                                 "SECRET_KEY": env["SECRET_KEY"], "LTI_KEYS_DIR": env["LTI_KEYS_DIR"]})
    with app.app_context():
        move_terms_around_today()
        db.engine.dispose()


@pytest.fixture
def production_tool():
    """gunicorn with deploy/gunicorn.conf.py on loopback (one worker, every log line down to debug), and the
    platform; yields (gunicorn, platform, env) and stops both."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-log-test-"))
    port = free_port()
    env = tool_environment(workdir, port)
    if env["DATABASE_URL"].startswith(("postgres", "postgresql")):
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite'}"  # its own database, whatever the suite uses
    env.pop("REDIS_URL", None)
    env["GUNICORN_LOG_LEVEL"] = "debug"
    platform_server = PlatformServer(env["BASE_URL"]).start()
    gunicorn = None
    try:
        set_up_tool(env, platform_server.platform, catalog=True)
        _keep_term_open(env)
        gunicorn = Gunicorn(env, port, 1, workdir / "gunicorn.log").start()
        yield gunicorn, platform_server.platform, env
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        platform_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _session(tool: str, platform, seen: Seen) -> None:
    """What a person does in an afternoon: launch, the page, a save, uploads, downloads, an emailed link."""
    browser = PlatformBrowser(platform)
    login, _ = platform.next_launch(person="learner", custom={"microcredential": SLUG})
    seen.add(login.get("lti_message_hint"), login.get("login_hint") if len(login.get("login_hint", "")) > 15 else None)
    started = browser.start_login(login)
    seen.from_url(started.headers["Location"])  # state and nonce, on their way to the platform
    id_token, state = browser.authorize(started)
    seen.add(id_token, state, _nonce_of(id_token))
    landed = browser.post_launch(id_token, state)
    assert landed.status_code == 200 and urlsplit(landed.url).path == "/submission/", landed.text[:300]
    for hop in [*landed.history, landed]:
        seen.from_url(hop.url)
        seen.from_url(hop.headers.get("Location", ""))
    seen.from_page(landed.text)
    seen.add(*(cookie.value for cookie in browser.session.cookies))

    # a save (the form: the reference in the body)
    forms = {form["id"]: form for form in forms_in(landed.text)}
    fields = dict(forms["attempt-form"]["fields"], action="save", overview="My plan for the term.")
    saved = browser.post(tool + "/submission/", data=fields)
    assert saved.status_code == 200, saved.text[:300]
    seen.from_url(saved.url)
    seen.from_page(saved.text)
    ltik = re.search(r'name="ltik" value="([^"]+)"', saved.text).group(1)

    # uploads: the script's way (reference in a header) and the form's way (in the body)
    raw = browser.post(tool + "/artifacts/upload", params={"attempt_id": fields["attempt_id"], "title": "Lesson"},
                       data=MP4, headers={"Content-Type": "application/octet-stream", "X-Launch-Token": ltik,
                                          "X-File-Name": quote("lesson.mp4"), "Accept": "application/json"})
    assert raw.status_code == 201, raw.text[:300]
    answer = raw.json()
    form = browser.post(tool + "/artifacts/upload", data={"ltik": ltik, "attempt_id": fields["attempt_id"]},
                        files={"artifact_file": ("plan.pdf", PDF, "application/pdf")})
    assert form.status_code == 200, form.text[:300]
    seen.from_url(form.url)
    seen.from_page(form.text)

    # downloads and the player, through their links; an invalid one too
    links = [answer["download_url"], answer["play_url"],
             *{html.unescape(u) for u in re.findall(r'(?:href|src)="(/files/[^"]+)"', form.text)}]
    assert len(links) >= 4, links
    for link in links:
        seen.from_url(link)
        assert browser.get(tool + link, headers={"Range": "bytes=0-7"}).status_code in (200, 206), link
    forged = "x" + secrets.token_urlsafe(30)
    seen.add(forged)
    assert browser.get(f"{tool}/files/{answer['id']}", params={"t": forged}).status_code == 404

    # a reference replayed from another client, and emailed confirmation links (the query form and the old path)
    others = requests.Session()
    others.get(tool + "/submission/", params={"ltik": ltik})  # refused or not (the session tests say): not logged
    query_secret, path_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    seen.add(query_secret, path_secret)
    assert others.get(tool + "/my-badges/confirm", params={"token": query_secret}).status_code == 404
    assert others.get(f"{tool}/my-badges/confirm/{path_secret}").status_code == 404
    assert others.post(f"{tool}/my-badges/confirm/{path_secret}").status_code == 404

    # a request gunicorn itself refuses: its error log quotes the request line
    malformed = secrets.token_urlsafe(32)
    seen.add(malformed)
    host, port = urlsplit(tool).hostname, urlsplit(tool).port
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(f"GET /submission/?ltik={malformed} HTTP/1.1 and-more\r\nHost: {host}\r\n\r\n".encode())
        assert connection.recv(1024).startswith(b"HTTP/1.1 400")


def test_no_log_line_of_a_session_holds_a_credential(production_tool):
    gunicorn, platform, env = production_tool
    seen = Seen()
    seen.add(env["SECRET_KEY"])
    _session(gunicorn.url, platform, seen)
    gunicorn.stop()  # every line written and flushed

    access_log = gunicorn.log_path.with_suffix(".access.log").read_text()
    error_log = gunicorn.log_path.read_text()  # gunicorn's error log and the application's, on stderr
    # the session is in the logs, by method and path
    for line in ("POST /lti/launch", "GET /submission/", "POST /submission/", "POST /artifacts/upload", "GET /files/",
                 "GET /my-badges/confirm", "GET /my-badges/confirm/[redacted]", "POST /my-badges/confirm/[redacted]"):
        assert f'"{line}' in access_log, line
    assert "Booting worker" in error_log and "Current configuration" in error_log  # debug: everything gunicorn says
    assert "Invalid request from ip=127.0.0.1" in error_log
    pieces = seen.pieces()
    assert len(seen.tokens) >= 10, seen.tokens
    for name, text in (("access log", access_log), ("error log", error_log)):
        leaked = sorted(piece for piece in pieces if piece in text)
        assert not leaked, f"the {name} holds credentials: {leaked[:5]}"
    assert "?" not in "".join(re.findall(r'"[A-Z]+ [^"]*"', access_log))  # no query string at all


def test_the_development_servers_request_lines_hold_no_query_string(app, live_tool, caplog):
    """`make run` serves with Werkzeug, which logs each request line: the `werkzeug` logger's filter cuts it."""
    secret = secrets.token_urlsafe(32)
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        assert requests.get(f"{live_tool.url}/healthz", params={"ltik": secret, "t": secret}, timeout=10).ok
        requests.get(f"{live_tool.url}/my-badges/confirm/{secret}", timeout=10)
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("GET /healthz HTTP/1.1" in line for line in lines), lines
    assert any("GET /my-badges/confirm/[redacted] HTTP/1.1" in line for line in lines), lines
    assert not [line for line in lines if secret in line or "ltik" in line]


def test_the_applications_own_log_lines_are_redacted(app, caplog):
    secret = secrets.token_urlsafe(32)
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        app.logger.warning("could not reach %s", f"https://lms.example/return?ltik={secret}&x=1")
        app.logger.info("opened /my-badges/confirm/%s", secret)
    messages = [record.getMessage() for record in caplog.records if record.name == app.logger.name]
    assert messages == ["could not reach https://lms.example/return", "opened /my-badges/confirm/[redacted]"]
