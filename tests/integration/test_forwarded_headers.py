"""A client's X-Forwarded-* headers never decide the tool's addresses: not the LTI configuration (/lti/config.json,
with the JWKS URL), not the tool configuration Dynamic Registration sends, not the badges' addresses.

Production names its public origin in BASE_URL (it refuses to start without) and reads only X-Forwarded-For and
-Proto, from exactly TRUSTED_PROXY_COUNT proxies; development takes its origin from the Host the browser sent.
"""

from __future__ import annotations

import json

import pytest
import requests

from lti_tool import create_app
from lti_tool.extensions import db
from tests import conftest
from tests.integration.test_root_page import serve
from tests.platform.dynamic_registration import RegistrationPlatform
from tests.platform.dynamic_registration import create_app as create_registration_platform

FORGED_HOST = {
    "X-Forwarded-Host": "attacker.example",
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/attacker",
    "Forwarded": "host=attacker.example;proto=https",
}
# Behind a trusted proxy X-Forwarded-Proto is the proxy's own (nginx replaces the client's): only the host is forged.
FORGED = {**FORGED_HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
SLUG = "feedback-to-promote-learning"


@pytest.fixture(
    params=[
        pytest.param(("production", {}, FORGED), id="production"),
        pytest.param(("production", {"TRUSTED_PROXY_COUNT": 2}, FORGED), id="production-two-proxies"),
        pytest.param(("development", {"base_url": False}, FORGED), id="development-without-base-url"),
        pytest.param(("development", {"base_url": False, "TRUSTED_PROXY_COUNT": 1}, FORGED_HOST),
                     id="development-behind-a-proxy"),
    ]
)
def tool(request, tmp_path_factory):
    settings, options, forged = request.param
    for served in serve(tmp_path_factory, settings, **options):
        served.forged = forged
        yield served


@pytest.fixture(scope="module")
def registration_lms():
    platform = RegistrationPlatform()
    server = conftest.LiveServer(create_registration_platform(platform)).start()
    server.platform = platform
    yield server
    server.stop()


def _documents(tool, headers: dict) -> dict[str, object]:
    """What the tool advertises about itself and its badges, fetched with `headers`."""
    from lti_tool.catalog.models import MicroCredential

    with tool.app.app_context():
        issuer_id = db.session.scalar(db.select(MicroCredential.issuer_profile_id).where(MicroCredential.slug == SLUG))
        db.session.remove()
    paths = ["/lti/config.json", "/lti/config/canvas.json", f"/ob/v2/issuers/{issuer_id}",
             f"/ob/v2/issuers/{issuer_id}/badgeclasses/{SLUG}", f"/ob/v3/issuers/{issuer_id}",
             f"/ob/v3/issuers/{issuer_id}/achievements/{SLUG}"]
    documents = {}
    for path in paths:
        response = requests.get(tool.url + path, headers=headers, timeout=10)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        documents[path] = response.json()
    page = requests.get(tool.url + "/lti/config", headers=headers, timeout=10)
    documents["/lti/config"] = page.text
    return documents


def _dynamic_registration(tool, lms, headers: dict) -> dict:
    """The tool configuration the tool posts to the LMS when the registration URL is opened with `headers`."""
    from lti_tool.lti.registration import create_invite

    with tool.app.app_context():
        _, invite = create_invite()
        db.session.commit()
    url = lms.platform.registration_url(f"{tool.url}/lti/register?invite={invite}", lms.url, lms.platform.issue_token())
    response = requests.get(url, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return lms.platform.registrations[-1]["request"]


def test_forged_forwarded_headers_change_no_address(tool, registration_lms):
    registration_lms.platform.reset()
    honest = _documents(tool, {})
    forged = _documents(tool, tool.forged)
    assert forged == honest
    config = honest["/lti/config.json"]
    assert config["jwks_url"] == tool.url + "/lti/jwks"
    assert config["launch_url"] == tool.url + "/lti/launch"
    [badge_class] = [document for path, document in honest.items() if "/badgeclasses/" in path]
    assert badge_class["id"].startswith(tool.url + "/ob/v2/issuers/")
    assert badge_class["issuer"].startswith(tool.url + "/ob/v2/issuers/")

    honest_registration = _dynamic_registration(tool, registration_lms, {})
    forged_registration = _dynamic_registration(tool, registration_lms, tool.forged)
    assert forged_registration == honest_registration
    assert forged_registration["jwks_uri"] == tool.url + "/lti/jwks"
    assert forged_registration["initiate_login_uri"] == tool.url + "/lti/login"

    everything = json.dumps([forged, forged_registration])
    assert "attacker" not in everything and "8443" not in everything


def test_production_refuses_to_start_without_base_url(tmp_path_factory):
    overrides = conftest.test_overrides(tmp_path_factory)
    with pytest.raises(RuntimeError, match="BASE_URL must be set in production"):
        create_app("production", overrides)


def test_the_trusted_proxy_count_comes_from_the_environment():
    from config.settings import Base, Development, Production, settings_from_environment

    assert Base.TRUSTED_PROXY_COUNT == 0 and Development.TRUSTED_PROXY_COUNT == 0
    assert Production.TRUSTED_PROXY_COUNT == 1
    assert settings_from_environment({"TRUSTED_PROXY_COUNT": "2"}) == {"TRUSTED_PROXY_COUNT": 2}
