"""/lti/config (HTML, JSON, Canvas developer key), `flask platforms ...` and the admin page."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from lti_tool.extensions import db
from lti_tool.lti.launch_context import LaunchContext, issue_launch_token
from lti_tool.lti.models import Deployment, Registration, RegistrationInvite

SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]
ADD = [
    "platforms", "add",
    "--issuer", "https://canvas.example.edu",
    "--client-id", "10000000000001",
    "--login-url", "https://sso.example.edu/api/lti/authorize_redirect",
    "--token-url", "https://sso.example.edu/login/oauth2/token",
    "--jwks-url", "https://sso.example.edu/api/lti/security/jwks",
    "--audience", "https://canvas.example.edu/login/oauth2/token",
    "--deployment", "1:abc",
    "--deployment", "2:def",
    "--name", "Example Canvas",
]  # fmt: skip


def _registrations(app):
    with app.app_context():
        return [
            (r.issuer, r.client_id, sorted(d.deployment_id for d in r.deployments))
            for r in db.session.scalars(db.select(Registration).order_by(Registration.id))
        ]


# -- /lti/config ----------------------------------------------------------------------------------------------


def test_config_page_lists_every_url_and_scope(app, live_tool):
    response = requests.get(live_tool.url + "/lti/config", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    for path in ("/lti/login", "/lti/launch", "/lti/jwks", "/lti/register", "/lti/config/canvas.json"):
        assert live_tool.url + path in response.text
    for scope in SCOPES:
        assert scope in response.text


def test_config_json_lists_every_url_and_scope(app, live_tool):
    doc = requests.get(live_tool.url + "/lti/config.json", timeout=10).json()

    assert doc["login_url"] == live_tool.url + "/lti/login"
    assert doc["launch_url"] == live_tool.url + "/lti/launch"
    assert doc["redirect_uris"] == [live_tool.url + "/lti/launch"]
    assert doc["jwks_url"] == live_tool.url + "/lti/jwks"
    assert doc["dynamic_registration_url"] == live_tool.url + "/lti/register"
    assert doc["scopes"] == SCOPES
    assert doc["domain"] == urlsplit(live_tool.url).netloc
    assert {m["type"] for m in doc["messages"]} == {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
    # Every URL it names is served by the tool.
    assert requests.get(doc["jwks_url"], timeout=10).json()["keys"]
    assert requests.get(doc["logo_url"], timeout=10).status_code == 200


def test_canvas_developer_key_json(app, live_tool):
    response = requests.get(live_tool.url + "/lti/config/canvas.json", timeout=10)
    key = response.json()

    assert response.headers["Content-Type"] == "application/json"
    assert key["title"] == app.config["LTI_TOOL_NAME"]
    assert key["description"]
    assert key["oidc_initiation_url"] == live_tool.url + "/lti/login"
    assert key["target_link_uri"] == live_tool.url + "/lti/launch"
    assert key["public_jwk_url"] == live_tool.url + "/lti/jwks"
    assert key["scopes"] == SCOPES
    assert isinstance(key["custom_fields"], dict)
    [extension] = key["extensions"]
    assert extension["platform"] == "canvas.instructure.com"
    assert extension["privacy_level"] == "public"
    placements = extension["settings"]["placements"]
    assert {p["placement"] for p in placements} == {"assignment_selection", "link_selection"}
    assert {p["message_type"] for p in placements} == {"LtiDeepLinkingRequest"}
    assert all(p["target_link_uri"] == live_tool.url + "/lti/launch" for p in placements)


# -- flask platforms ... ---------------------------------------------------------------------------------------


def test_cli_add_list_remove(app, runner):
    added = runner.invoke(args=ADD)
    assert added.exit_code == 0, added.output
    assert _registrations(app) == [("https://canvas.example.edu", "10000000000001", ["1:abc", "2:def"])]
    with app.app_context():
        registration = db.session.scalars(db.select(Registration)).one()
        assert registration.auth_audience == "https://canvas.example.edu/login/oauth2/token"
        assert registration.name == "Example Canvas"
        assert registration.is_default_for_issuer

    # A second client id for the same issuer (Canvas: two developer keys), and a deployment added later.
    second = [*ADD[:4], "--client-id", "10000000000002", *ADD[6:-6], "--deployment", "3:ghi"]
    assert runner.invoke(args=second).exit_code == 0
    assert runner.invoke(args=[*ADD, "--deployment", "4:jkl"]).exit_code == 0
    assert _registrations(app) == [
        ("https://canvas.example.edu", "10000000000001", ["1:abc", "2:def", "4:jkl"]),
        ("https://canvas.example.edu", "10000000000002", ["3:ghi"]),
    ]

    listed = runner.invoke(args=["platforms", "list"])
    assert listed.exit_code == 0
    assert "10000000000001" in listed.output and "10000000000002" in listed.output
    assert "deployment 4:jkl" in listed.output

    with app.app_context():
        first_id = db.session.scalar(db.select(Registration.id).where(Registration.client_id == "10000000000001"))
    switched_off = runner.invoke(args=["platforms", "remove", str(first_id), "--yes"])
    assert switched_off.exit_code == 0, switched_off.output
    assert "data is kept" in switched_off.output
    with app.app_context():
        assert db.session.get(Registration, first_id).is_active is False
    removed = runner.invoke(args=["platforms", "remove", str(first_id), "--purge", "--yes"])
    assert removed.exit_code == 0, removed.output
    removed = runner.invoke(
        args=["platforms", "remove", "--issuer", "https://canvas.example.edu", "--client-id", "10000000000002",
              "--purge", "--yes"]
    )
    assert removed.exit_code == 0, removed.output
    assert _registrations(app) == []
    with app.app_context():
        assert db.session.scalars(db.select(Deployment)).all() == []


def test_cli_refuses_bad_input(app, runner):
    bad_url = runner.invoke(args=[*ADD[:9], "not-a-url", *ADD[10:]])
    assert bad_url.exit_code != 0
    assert "token URL" in bad_url.output
    missing = runner.invoke(args=["platforms", "remove", "999", "--yes"])
    assert missing.exit_code != 0
    assert "No such registration" in missing.output
    assert _registrations(app) == []


def test_cli_invite_prints_a_single_use_url_and_stores_only_its_hash(app, runner, live_tool):
    result = runner.invoke(args=["platforms", "invite", "--expires-hours", "2", "--note", "Moodle prod"])

    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[0]
    assert url.startswith(live_tool.url + "/lti/register?invite=")
    token = parse_qs(urlsplit(url).query)["invite"][0]
    with app.app_context():
        invite = db.session.scalars(db.select(RegistrationInvite)).one()
        assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert invite.note == "Moodle prod"
        assert invite.used_at is None
        hours = (invite.expires_at - invite.created_at).total_seconds() / 3600
        assert 1.9 < hours < 2.1


# -- /admin/ --------------------------------------------------------------------------------------------------


def _ltik(app, duties: tuple[str, ...]) -> str:
    """A launch reference for the first deployment registered (as a launch through it would give)."""
    from lti_tool.extensions import db
    from lti_tool.lti.models import Deployment

    with app.test_request_context():
        deployment_id = db.session.scalar(db.select(Deployment.id).order_by(Deployment.id).limit(1))
        return issue_launch_token(
            LaunchContext(launch_id="launch-1", user_id=1, deployment_id=deployment_id, context_id=None,
                          resource_link_id=None, duties=duties)
        )


def test_admin_page_lists_platforms_for_an_admin(app, runner, live_tool):
    assert runner.invoke(args=ADD).exit_code == 0

    response = requests.get(live_tool.url + "/admin/", params={"ltik": _ltik(app, ("admin",))}, timeout=10)

    assert response.status_code == 200
    assert "Example Canvas" in response.text
    assert "https://canvas.example.edu" in response.text
    assert "1:abc" in response.text and "2:def" in response.text
    assert "/lti/config" in response.text


@pytest.mark.parametrize("duties", [("educator",), ("instructor",), ()])
def test_admin_page_needs_the_admin_duty(app, runner, live_tool, duties):
    assert runner.invoke(args=ADD).exit_code == 0
    response = requests.get(live_tool.url + "/admin/", params={"ltik": _ltik(app, duties)}, timeout=10)

    assert response.status_code == 403
    assert "Your role in this course does not give access to this page." in response.text


def test_a_launch_through_a_removed_registration_is_refused(app, runner, live_tool):
    assert runner.invoke(args=ADD).exit_code == 0
    ltik = _ltik(app, ("admin",))
    assert runner.invoke(args=["platforms", "remove", "--issuer", ADD[ADD.index("--issuer") + 1],
                               "--client-id", ADD[ADD.index("--client-id") + 1], "--yes"]).exit_code == 0
    response = requests.get(live_tool.url + "/admin/", params={"ltik": ltik}, timeout=10)
    assert response.status_code == 403
    assert "removed or switched off" in response.text


def test_admin_page_without_a_launch_is_refused(app, live_tool):
    assert requests.get(live_tool.url + "/admin/", timeout=10).status_code == 403


def test_the_admin_page_shows_only_the_admins_own_platform(app, browser, platform, live_tool):
    from lti_tool.extensions import db
    from lti_tool.lti.models import Deployment, Registration

    with app.app_context():
        other = Registration(name="Another university", issuer="https://other-lms.example", client_id="other-client",
                             auth_login_url="https://other-lms.example/auth", auth_token_url="https://other-lms.example/token",
                             key_set_url="https://other-lms.example/jwks")
        other.deployments = [Deployment(deployment_id="other-deployment")]
        db.session.add(other)
        db.session.commit()
    admin = browser.launch(person="admin")
    page = browser.get(live_tool.url + "/admin/", params={"ltik": admin.ltik})
    assert page.status_code == 200
    assert platform.issuer in page.text
    assert "other-lms.example" not in page.text
    assert "other-client" not in page.text


def test_catalog_manager_command(runner, app, platform):
    from lti_tool.extensions import db
    from lti_tool.lti.models import Registration

    with app.app_context():
        registration_id = db.session.scalar(db.select(Registration.id))
    result = runner.invoke(args=["platforms", "catalog-manager", str(registration_id), "--off"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Registration, registration_id).manages_catalog is False
    assert "manages the catalog" not in runner.invoke(args=["platforms", "list"]).output
    runner.invoke(args=["platforms", "catalog-manager", str(registration_id), "--on"])
    assert "manages the catalog" in runner.invoke(args=["platforms", "list"]).output


def test_production_refuses_to_start_without_base_url(tmp_path_factory):
    """Badges carry addresses made from BASE_URL for good: production never takes them from a request's Host."""
    from lti_tool import create_app
    from tests import conftest

    overrides = conftest.test_overrides(tmp_path_factory)
    with pytest.raises(RuntimeError, match="BASE_URL must be set in production"):
        create_app("production", overrides)
    assert create_app("production", {**overrides, "BASE_URL": "https://mcb.example.edu"}).config["BASE_URL"]
