"""LTI Dynamic Registration 1.0 through real HTTP: the tool against an independent test platform."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests

from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.lti.models import Deployment, Registration, RegistrationInvite
from lti_tool.lti.registration import create_invite
from tests.nothing_changed import nothing_changes
from tests.platform.dynamic_registration import RegistrationPlatform, create_app

AGS_AND_NRPS = {
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
}
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION_KEY = "https://purl.imsglobal.org/spec/lti-platform-configuration"


@pytest.fixture(scope="module")
def registration_server():
    from tests.conftest import LiveServer

    platform = RegistrationPlatform()
    server = LiveServer(create_app(platform)).start()
    server.platform = platform
    yield server
    server.stop()


@pytest.fixture
def lms(registration_server, app, live_tool):
    """The test platform, reset for each test; `lms.url` is its origin and issuer."""
    registration_server.platform.reset()
    yield registration_server
    registration_server.platform.reset()


@pytest.fixture
def closed_registration(app):
    """Production behaviour: /lti/register needs an invite."""
    previous = app.config["LTI_REGISTRATION_OPEN"]
    app.config["LTI_REGISTRATION_OPEN"] = False
    yield
    app.config["LTI_REGISTRATION_OPEN"] = previous


def _register(lms, live_tool, token: str | None = None, extra: str = "") -> requests.Response:
    """What the platform does when an admin pastes the tool's registration URL (a fresh token unless given)."""
    token = token or lms.platform.issue_token()
    url = lms.platform.registration_url(live_tool.url + "/lti/register" + extra, lms.url, token)
    return requests.get(url, timeout=10)


def _stored(app):
    with app.app_context():
        registrations = db.session.scalars(db.select(Registration)).all()
        deployments = db.session.scalars(db.select(Deployment)).all()
        return [(r.issuer, r.client_id, r.auth_audience) for r in registrations], [d.deployment_id for d in deployments]


def test_happy_path_stores_registration_and_deployment_and_closes(app, live_tool, lms):
    response = _register(lms, live_tool)

    assert response.status_code == 200, response.text
    # The page's script (a static file: no inline script) tells the platform to close.
    [script] = re.findall(r'<script src="(/assets/js/register-done\.[0-9a-f]+\.js)"></script>', response.text)
    assert "org.imsglobal.lti.close" in requests.get(live_tool.url + script, timeout=10).text
    assert "is now registered" in response.text
    # The platform frames this page before the tool knows it.
    assert lms.url in response.headers["Content-Security-Policy"]

    [recorded] = lms.platform.registrations
    client_id = recorded["answer"]["client_id"]
    assert _stored(app) == ([(lms.url, client_id, lms.url + "/token-audience")], ["deployment-1"])
    with app.app_context():
        registration = db.session.scalars(db.select(Registration)).one()
        assert registration.auth_login_url == lms.url + "/auth"
        assert registration.auth_token_url == lms.url + "/token"
        assert registration.key_set_url == lms.url + "/jwks"
        assert registration.product_family_code == "test-lms"

    posted = recorded["request"]
    assert posted["initiate_login_uri"] == live_tool.url + "/lti/login"
    assert posted["redirect_uris"] == [live_tool.url + "/lti/launch"]
    assert posted["jwks_uri"] == live_tool.url + "/lti/jwks"
    assert posted["client_name"] == app.config["LTI_TOOL_NAME"]
    assert posted["logo_uri"].startswith(live_tool.url)
    assert requests.get(posted["logo_uri"], timeout=10).headers["Content-Type"].startswith("image/svg+xml")
    assert set(posted["scope"].split()) == AGS_AND_NRPS
    tool = posted[TOOL_CONFIGURATION]
    assert tool["domain"] == live_tool.url.split("//", 1)[1]  # host:port
    assert tool["target_link_uri"] == live_tool.url + "/lti/launch"
    assert {m["type"] for m in tool["messages"]} == {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
    deep_linking = next(m for m in tool["messages"] if m["type"] == "LtiDeepLinkingRequest")
    assert deep_linking["placements"] and deep_linking["label"]
    assert {"name", "email"} <= set(tool["claims"])


def test_only_scopes_the_platform_supports_are_requested(app, live_tool, lms):
    lms.platform.configuration_overrides = {
        "scopes_supported": ["openid", "https://purl.imsglobal.org/spec/lti-ags/scope/score"]
    }

    response = _register(lms, live_tool)

    assert response.status_code == 200, response.text
    assert lms.platform.registrations[0]["request"]["scope"] == "https://purl.imsglobal.org/spec/lti-ags/scope/score"


def test_issuer_from_another_origin_is_refused_and_nothing_stored(app, live_tool, lms):
    lms.platform.issuer_override = "https://lms.example.edu"

    with nothing_changes(app):
        response = _register(lms, live_tool)

    assert response.status_code == 400
    assert "https://lms.example.edu" in response.text
    assert "issuer" in response.text
    assert lms.platform.registrations == []
    assert _stored(app) == ([], [])


def test_configuration_without_required_fields_is_refused(app, live_tool, lms):
    lms.platform.configuration_overrides = {"registration_endpoint": None, PLATFORM_CONFIGURATION_KEY: None}

    with nothing_changes(app):
        response = _register(lms, live_tool)

    assert response.status_code == 400
    assert "registration_endpoint" in response.text
    assert "product_family_code" in response.text
    assert _stored(app) == ([], [])


def test_missing_openid_configuration_is_a_400(app, live_tool):
    with nothing_changes(app):
        response = requests.get(live_tool.url + "/lti/register", timeout=10)

    assert response.status_code == 400
    assert "openid_configuration" in response.text
    assert _stored(app) == ([], [])


def test_platform_refusing_the_registration_shows_why_and_stores_nothing(app, live_tool, lms):
    lms.platform.refuse_with = (400, {"error": "invalid_client_metadata", "error_description": "tool blocked here"})

    with nothing_changes(app):
        response = _register(lms, live_tool)

    assert response.status_code == 400
    assert "refused the registration" in response.text
    assert "tool blocked here" in response.text
    assert _stored(app) == ([], [])


def test_registration_token_reused_is_refused_by_the_platform(app, live_tool, lms):
    token = lms.platform.issue_token()
    assert _register(lms, live_tool, token).status_code == 200

    with nothing_changes(app):
        again = _register(lms, live_tool, token)

    assert again.status_code == 400
    assert "already used" in again.text
    assert "token reused" in lms.platform.refusals
    registrations, deployments = _stored(app)
    assert len(registrations) == 1
    assert deployments == ["deployment-1"]


def test_registering_again_adds_a_second_client_for_the_same_issuer(app, live_tool, lms):
    assert _register(lms, live_tool).status_code == 200
    lms.platform.deployment_id = "deployment-2"
    assert _register(lms, live_tool).status_code == 200

    registrations, deployments = _stored(app)
    assert {issuer for issuer, _, _ in registrations} == {lms.url}
    assert len(registrations) == 2
    assert sorted(deployments) == ["deployment-1", "deployment-2"]


@pytest.mark.usefixtures("closed_registration")
def test_closed_registration_without_invite_is_forbidden(app, live_tool, lms):
    with nothing_changes(app):
        response = _register(lms, live_tool)

    assert response.status_code == 403
    assert "platforms invite" in response.text
    assert lms.platform.registrations == []
    assert _stored(app) == ([], [])


def _invite(app, expires_hours: float = 24) -> str:
    with app.app_context():
        _, token = create_invite(expires_hours=expires_hours, note="test LMS")
        db.session.commit()
    return token


@pytest.mark.usefixtures("closed_registration")
def test_invite_works_once(app, live_tool, lms):
    token = _invite(app)

    first = _register(lms, live_tool, extra=f"?invite={token}")
    with nothing_changes(app):
        second = _register(lms, live_tool, extra=f"?invite={token}")

    assert first.status_code == 200, first.text
    assert second.status_code == 403
    assert "already used" in second.text
    assert len(lms.platform.registrations) == 1
    with app.app_context():
        invite = db.session.scalars(db.select(RegistrationInvite)).one()
        registration = db.session.scalars(db.select(Registration)).one()
        assert invite.used_at is not None
        assert invite.registration_id == registration.id
        assert token not in invite.token_hash  # only the hash is stored
        assert len(invite.token_hash) == 64


@pytest.mark.usefixtures("closed_registration")
def test_invite_survives_a_failed_registration(app, live_tool, lms):
    token = _invite(app)
    lms.platform.refuse_with = (400, {"error": "invalid_client_metadata"})
    with nothing_changes(app):
        assert _register(lms, live_tool, extra=f"?invite={token}").status_code == 400

    lms.platform.refuse_with = None
    assert _register(lms, live_tool, extra=f"?invite={token}").status_code == 200


@pytest.mark.usefixtures("closed_registration")
def test_expired_invite_is_refused(app, live_tool, lms):
    token = _invite(app)
    with app.app_context():
        invite = db.session.scalars(db.select(RegistrationInvite)).one()
        invite.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()

    with nothing_changes(app):
        response = _register(lms, live_tool, extra=f"?invite={token}")

    assert response.status_code == 403
    assert lms.platform.registrations == []
    assert _stored(app) == ([], [])


@pytest.mark.usefixtures("closed_registration")
def test_unknown_invite_is_refused(app, live_tool, lms):
    with nothing_changes(app):
        response = _register(lms, live_tool, extra="?invite=not-a-real-invite")

    assert response.status_code == 403
    assert _stored(app) == ([], [])
