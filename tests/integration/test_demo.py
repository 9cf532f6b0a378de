"""The demo LMS (development only): real OIDC logins and signed messages over HTTP, deep linking, AGS, NRPS."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from config.settings import PROJECT_ROOT, normalise_database_url
from lti_tool import create_app
from lti_tool.extensions import db
from tests import conftest

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
SLUG = "feedback-to-promote-learning"
TITLE = "Providing Feedback to Promote Learning"


def _absolute(base: str, location: str) -> str:
    return base + location if location.startswith("/") else location


def _overrides(tmp_path_factory) -> dict:
    overrides = conftest.test_overrides(tmp_path_factory)
    overrides["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(overrides["SQLALCHEMY_DATABASE_URI"])
    return overrides


def serve_demo(tmp_path_factory):
    """A testing app with the demo enabled, served over real HTTP on loopback, set up as `make setup` does."""
    app = create_app("testing", {**_overrides(tmp_path_factory), "DEMO_ENABLED": True})
    conftest.prepare_database(app)
    with app.app_context():
        from lti_tool.core.keys import key_store

        key_store().ensure()
    server = conftest.LiveServer(app).start()
    app.config["BASE_URL"] = server.url
    for command in (["catalog", "load"], ["demo", "setup"]):  # as `make setup` does
        result = app.test_cli_runner().invoke(args=command)
        assert result.exit_code == 0, result.output
    yield SimpleNamespace(app=app, url=server.url)
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    yield from serve_demo(tmp_path_factory)


class Browser:
    """requests, with the tool's `Secure` cookies kept on http loopback (as Chromium treats it as secure)."""

    def __init__(self):
        self.session = requests.Session()

    def _keep_secure_cookies(self):
        for cookie in self.session.cookies:
            cookie.secure = False

    def get(self, url, **kwargs):
        kwargs.setdefault("allow_redirects", False)
        response = self.session.get(url, timeout=10, **kwargs)
        self._keep_secure_cookies()
        return response

    def post(self, url, **kwargs):
        kwargs.setdefault("allow_redirects", False)
        response = self.session.post(url, timeout=10, **kwargs)
        self._keep_secure_cookies()
        return response


def _attr(page: str, pattern: str) -> str:
    match = re.search(pattern, page, re.S)
    assert match, f"{pattern!r} not in page"
    return html.unescape(match.group(1))


def _launch_links(page: str, persona: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(rf'data-persona="{persona}"\s+href="([^"]+)"', page)]


def launch(browser: Browser, base: str, launch_path: str):
    """From a demo launch page to the tool: iframe src -> login -> /demo/auth -> form_post -> /lti/launch."""
    page = browser.get(base + launch_path)
    assert page.status_code == 200
    login_url = _attr(page.text, r'id="tool-frame"[^>]*src="([^"]+)"')
    assert urlsplit(login_url).path == "/lti/login"
    login = browser.get(login_url)
    assert login.status_code == 302, login.text
    auth_url = login.headers["Location"]
    assert urlsplit(auth_url).path == "/demo/auth"
    auth = browser.get(auth_url)
    assert auth.status_code == 200, auth.text
    action = _attr(auth.text, r'<form id="lti-launch" method="post" action="([^"]+)"')
    id_token = _attr(auth.text, r'name="id_token" value="([^"]+)"')
    state = _attr(auth.text, r'name="state" value="([^"]*)"')
    launched = browser.post(action, data={"id_token": id_token, "state": state})
    assert launched.status_code == 303, launched.text
    return launched, jwt.decode(id_token, options={"verify_signature": False})


def test_setup_is_idempotent(demo):
    from lti_tool.lti.models import Deployment, Registration

    result = demo.app.test_cli_runner().invoke(args=["demo", "setup"])
    assert result.exit_code == 0
    assert "up to date" in result.output
    with demo.app.app_context():
        registration = db.session.scalar(db.select(Registration).where(Registration.client_id == "demo-client"))
        assert registration.issuer == demo.url + "/demo"
        assert registration.auth_login_url == demo.url + "/demo/auth"
        assert registration.key_set["keys"][0]["kid"]
        assert db.session.query(Registration).count() == 1
        assert db.session.query(Deployment).filter_by(deployment_id="demo-deployment").count() == 1


def test_platform_key_is_private_and_published(demo):
    import os
    import stat

    key_file = os.path.join(demo.app.instance_path, "demo_platform_key.pem")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    keys = requests.get(demo.url + "/demo/jwks", timeout=10).json()["keys"]
    assert keys[0]["alg"] == "RS256" and "d" not in keys[0]


def test_educator_launch_reaches_the_tool(demo):
    browser = Browser()
    course = browser.get(demo.url + "/demo")
    assert course.status_code == 200
    assert "Demo Course" in course.text
    links = _launch_links(course.text, "educator")
    assert links, "no 'Launch as educator' button"

    launched, claims = launch(browser, demo.url, links[0])
    assert urlsplit(launched.headers["Location"]).path == "/submission/"  # straight to the page, no /lti/home hop
    home = browser.get(_absolute(demo.url, launched.headers["Location"]), allow_redirects=False)
    assert home.status_code == 200

    assert claims["iss"] == demo.url + "/demo"
    assert claims["aud"] == "demo-client"
    assert claims[CLAIM + "message_type"] == "LtiResourceLinkRequest"
    assert claims[CLAIM + "roles"] == [LIS + "membership#Learner"]
    assert claims[CLAIM + "resource_link"]["id"]
    assert claims[CLAIM + "custom"]["microcredential"]  # the seeded activities are bound to the catalog
    assert claims[CLAIM + "launch_presentation"]["document_target"] == "iframe"
    ags = claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]
    assert ags["lineitems"] == demo.url + "/demo/lineitems"
    nrps = claims["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"]
    assert nrps["context_memberships_url"] == demo.url + "/demo/memberships"

    from lti_tool.lti.models import Context, LtiUser

    with demo.app.app_context():
        assert db.session.scalar(db.select(LtiUser).where(LtiUser.sub == "demo-educator")).name == "Ellie Educator"
        context = db.session.scalar(db.select(Context).where(Context.context_id == "demo-course"))
        assert context.lineitems_url == demo.url + "/demo/lineitems"


@pytest.mark.parametrize(
    ("persona", "role"),
    [
        ("instructor", LIS + "membership#Instructor"),
        ("assessor", LIS + "membership/Instructor#TeachingAssistant"),
        ("assessor-2", LIS + "membership/Instructor#Grader"),
        ("assessor-3", LIS + "membership#Mentor"),
        ("admin", LIS + "institution/person#Administrator"),
    ],
)
def test_every_persona_launches(demo, persona, role):
    browser = Browser()
    course = browser.get(demo.url + "/demo")
    launched, claims = launch(browser, demo.url, _launch_links(course.text, persona)[0])
    landing = browser.get(_absolute(demo.url, launched.headers["Location"]), allow_redirects=False)
    assert landing.status_code == 200  # the launch's 303 names the person's page itself (no /lti/home hop)
    assert role in claims[CLAIM + "roles"]


def test_a_login_is_not_replayable(demo):
    """The id_token's nonce is the tool's; posting the same launch twice is refused."""
    browser = Browser()
    course = browser.get(demo.url + "/demo")
    page = browser.get(demo.url + _launch_links(course.text, "educator")[0])
    login = browser.get(_attr(page.text, r'id="tool-frame"[^>]*src="([^"]+)"'))
    auth = browser.get(login.headers["Location"])
    form = {
        "id_token": _attr(auth.text, r'name="id_token" value="([^"]+)"'),
        "state": _attr(auth.text, r'name="state" value="([^"]*)"'),
    }
    action = _attr(auth.text, r'action="([^"]+)"')
    assert browser.post(action, data=form).status_code == 303
    assert browser.post(action, data=form).status_code >= 400


def test_auth_rejects_a_foreign_redirect_uri(demo):
    browser = Browser()
    course = browser.get(demo.url + "/demo")
    page = browser.get(demo.url + _launch_links(course.text, "educator")[0])
    login = browser.get(_attr(page.text, r'id="tool-frame"[^>]*src="([^"]+)"'))
    auth_url = login.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    query["redirect_uri"] = "https://evil.example/launch"
    refused = browser.get(demo.url + "/demo/auth", params=query)
    assert refused.status_code == 400
    assert "id_token" not in refused.text


def test_deep_linking_round_trip_places_an_activity(demo):
    """Add a micro-credential: LtiDeepLinkingRequest -> the tool's signed response -> a new activity."""
    browser = Browser()
    course = browser.get(demo.url + "/demo")
    add = _attr(course.text, r'id="add-microcredential" href="([^"]+)"')
    launched, claims = launch(browser, demo.url, add)
    assert claims[CLAIM + "message_type"] == "LtiDeepLinkingRequest"
    settings = claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"]
    assert settings["deep_link_return_url"] == demo.url + "/demo/deep-link-return"
    assert settings["accept_types"] == ["ltiResourceLink"]
    picker_url = launched.headers["Location"]
    assert urlsplit(picker_url).path == "/lti/deep-link"

    # The instructor chooses in the tool's picker; the tool answers with a signed LtiDeepLinkingResponse.
    picker = browser.get(_absolute(demo.url, picker_url))
    assert picker.status_code == 200, picker.text
    ltik = _attr(picker.text, r'name="ltik" value="([^"]+)"')
    answer = browser.post(demo.url + "/lti/deep-link", data={"ltik": ltik, "microcredential": SLUG})
    assert answer.status_code == 200, answer.text
    return_url = _attr(answer.text, r'<form id="deep-link-response" method="post" action="([^"]+)"')
    assert return_url == demo.url + "/demo/deep-link-return"
    response_jwt = _attr(answer.text, r'name="JWT" value="([^"]+)"')

    placed = browser.post(return_url, data={"JWT": response_jwt})
    assert placed.status_code == 200, placed.text
    assert TITLE in placed.text
    assert browser.post(return_url, data={"JWT": response_jwt[:-4] + "AAAA"}).status_code == 401

    with demo.app.app_context():
        from lti_tool.demo.platform import load_course

        activity = load_course()["activities"][-1]
    assert activity["title"] == TITLE
    assert activity["custom"] == {"microcredential": SLUG}
    assert activity["lineitem_id"]
    course = browser.get(demo.url + "/demo")
    assert f'id="activity-{activity["id"]}"' in course.text

    # A response signed with another key under the tool's kid is refused.
    from cryptography.hazmat.primitives.asymmetric import rsa

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(jwt.decode(response_jwt, options={"verify_signature": False}), other_key, algorithm="RS256",
                        headers={"kid": jwt.get_unverified_header(response_jwt)["kid"]})
    assert browser.post(demo.url + "/demo/deep-link-return", data={"JWT": forged}).status_code == 401


def test_grade_passback_and_roster_through_the_token_endpoint(demo):
    """The tool's service connector obtains a token and posts a score; the gradebook shows it."""
    from pylti1p3.service_connector import ServiceConnector

    from lti_tool.lti.models import Registration
    from lti_tool.lti.tool_conf import to_library_registration

    with demo.app.app_context():
        registration = db.session.scalar(db.select(Registration).where(Registration.client_id == "demo-client"))
        connector = ServiceConnector(to_library_registration(registration))
        token = connector.get_access_token([
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
            "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
        ])
    headers = {"Authorization": f"Bearer {token}"}

    created = requests.post(demo.url + "/demo/lineitems", headers=headers, timeout=10,
                            json={"label": "Feedback micro-credential", "scoreMaximum": 1, "tag": "microcredential"})
    assert created.status_code == 201
    lineitem_url = created.json()["id"]
    score = {"userId": "demo-educator", "scoreGiven": 1, "scoreMaximum": 1, "comment": "Earned",
             "activityProgress": "Completed", "gradingProgress": "FullyGraded", "timestamp": "2025-01-01T00:00:00Z"}
    assert requests.post(lineitem_url + "/scores", json=score, headers=headers, timeout=10).status_code == 204

    listed = requests.get(demo.url + "/demo/lineitems", params={"tag": "microcredential"}, headers=headers, timeout=10)
    assert any(li["id"] == lineitem_url for li in listed.json())

    members = requests.get(demo.url + "/demo/memberships", headers=headers, timeout=10).json()["members"]
    assert {m["user_id"] for m in members} >= {"demo-educator", "demo-instructor", "demo-assessor",
                                               "demo-assessor-2", "demo-assessor-3"}

    course = requests.get(demo.url + "/demo", timeout=10).text
    assert "Feedback micro-credential" in course and "Ellie Educator" in course

    assert requests.get(demo.url + "/demo/memberships", timeout=10).status_code == 401
    bad = requests.get(demo.url + "/demo/memberships", headers={"Authorization": "Bearer forged"}, timeout=10)
    assert bad.status_code == 401


def test_the_tools_own_service_clients_work_against_the_demo(demo):
    """The tool's AGS and NRPS clients (tokens, line items, scores, results, roster) against the demo."""
    from lti_tool.lti import ags, nrps
    from lti_tool.lti.models import Registration

    with demo.app.app_context():
        registration = db.session.scalar(db.select(Registration).where(Registration.client_id == "demo-client"))
        item = ags.create_line_item(registration, demo.url + "/demo/lineitems",
                                    {"label": "Self-assessment", "scoreMaximum": 1, "tag": "microcredential"})
        score = ags.build_score("demo-educator", "Completed", "FullyGraded", score_given=0, score_maximum=1,
                                comment="Not yet")
        ags.post_score(registration, item["id"], score)
        results = ags.get_results(registration, item["id"], user_sub="demo-educator")
        roster = nrps.read_roster(registration, demo.url + "/demo/memberships")
    assert [r["resultScore"] for r in results] == [0]
    assert "demo-assessor" in {m["user_id"] for m in roster}


def test_production_has_no_demo(tmp_path_factory):
    app = create_app("production", {**_overrides(tmp_path_factory), "DEMO_ENABLED": False,
                                    "BASE_URL": "https://mcb.example.edu"})
    try:
        conftest.prepare_database(app)
        assert "demo" not in app.blueprints
        assert app.test_client().get("/demo").status_code == 404
        assert app.test_client().get("/demo/jwks").status_code == 404
        result = app.test_cli_runner().invoke(args=["demo", "setup"])
        assert result.exit_code == 0
        assert "disabled" in result.output
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- the reset form is protected as every form is ---------------------------------------------------------------
def _course_file(demo) -> str:
    import os

    return os.path.join(demo.app.instance_path, "demo_course.json")


def _form_token(page: str) -> str:
    return _attr(page, r'name="form_token" value="([^"]+)"')


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        pytest.param({"Sec-Fetch-Site": "cross-site"}, "from the page", id="another-site-with-the-pages-token"),
        pytest.param({"Origin": "https://attacker.example"}, "from the page", id="another-origin-with-the-token"),
        pytest.param({}, None, id="no-token"),
        pytest.param({}, "forged", id="forged-token"),
        pytest.param({"Sec-Fetch-Site": "same-origin"}, None, id="same-origin-without-token"),
    ],
)
def test_a_reset_without_the_forms_protection_is_refused_and_resets_nothing(demo, headers, token):
    from pathlib import Path

    from tests.nothing_changed import nothing_changes

    page = requests.get(demo.url + "/demo", timeout=10)
    course_before = Path(_course_file(demo)).read_text()
    data = {} if token is None else {"form_token": _form_token(page.text) if token == "from the page" else token}
    with nothing_changes(demo.app):
        refused = requests.post(demo.url + "/demo/reset", data=data, headers=headers, allow_redirects=False,
                                timeout=10)
    assert refused.status_code == 403
    assert "nothing was changed" in refused.text
    assert Path(_course_file(demo)).read_text() == course_before


def test_the_course_pages_reset_form_resets(demo):
    import os

    page = requests.get(demo.url + "/demo", timeout=10)
    assert os.path.exists(_course_file(demo))
    reset = requests.post(demo.url + "/demo/reset", data={"form_token": _form_token(page.text)},
                          headers={"Sec-Fetch-Site": "same-origin"}, allow_redirects=False, timeout=10)
    assert reset.status_code == 303
    assert not os.path.exists(_course_file(demo))
    assert requests.get(demo.url + "/demo", timeout=10).status_code == 200  # the seed comes back
    assert os.path.exists(_course_file(demo))


# -- the demo registers at the origin it serves ---------------------------------------------------------------
def test_make_run_registers_the_demo_at_the_port_it_serves():
    """`PORT=5200 make run` sets up the demo at the origin `flask run` serves, not at the default port."""
    import subprocess

    def demo_setup(*variables: str) -> str:
        dry_run = subprocess.run(["make", "-n", "-s", "setup", *variables], capture_output=True, text=True,
                                 check=True, cwd=str(PROJECT_ROOT))
        return next(line for line in dry_run.stdout.splitlines() if " demo setup" in line)

    assert demo_setup("PORT=5200").endswith("demo setup --base-url http://127.0.0.1:5200")
    assert demo_setup().endswith("demo setup --base-url http://127.0.0.1:5000")
    assert demo_setup("HOST=0.0.0.0", "PORT=8080").endswith("--base-url http://127.0.0.1:8080")
    assert demo_setup("BASE_URL=https://mcb.example.edu").endswith("--base-url https://mcb.example.edu")


@pytest.fixture
def demo_without_base_url(tmp_path_factory):
    """A demo served on a port of its own with BASE_URL unset, the catalog loaded but the demo not set up yet."""
    app = create_app("testing", {**_overrides(tmp_path_factory), "DEMO_ENABLED": True})
    conftest.prepare_database(app)
    with app.app_context():
        from lti_tool.core.keys import key_store

        key_store().ensure()
    assert not app.config.get("BASE_URL")
    server = conftest.LiveServer(app).start()
    result = app.test_cli_runner().invoke(args=["catalog", "load"])
    assert result.exit_code == 0, result.output
    yield SimpleNamespace(app=app, url=server.url)
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _demo_registrations(app) -> list[tuple]:
    from lti_tool.lti.models import Deployment, Registration

    with app.app_context():
        rows = db.session.execute(
            db.select(Registration.issuer, Registration.auth_login_url, Registration.auth_token_url,
                      Registration.key_set_url, Deployment.deployment_id)
            .join(Deployment, Deployment.registration_id == Registration.id)
            .where(Registration.client_id == "demo-client")
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def test_the_demo_is_registered_once_at_the_origin_it_serves(demo_without_base_url):
    demo = demo_without_base_url
    assert not demo.url.endswith(":5000")
    result = demo.app.test_cli_runner().invoke(args=["demo", "setup", "--base-url", demo.url])  # as `make run` does
    assert result.exit_code == 0, result.output
    expected = [(demo.url + "/demo", demo.url + "/demo/auth", demo.url + "/demo/token", demo.url + "/demo/jwks",
                 "demo-deployment")]
    assert _demo_registrations(demo.app) == expected

    for _ in range(2):  # the newcomer opens the demo, and opens it again
        course = requests.get(demo.url + "/demo", timeout=10)
        assert course.status_code == 200
        assert f"<code>{demo.url}/demo</code>" in course.text
    assert _demo_registrations(demo.app) == expected

    _, claims = launch(Browser(), demo.url, _launch_links(course.text, "educator")[0])
    assert claims["iss"] == demo.url + "/demo"
    assert _demo_registrations(demo.app) == expected
