"""pytest fixtures for the independent test platform: `platform_server`, `platform`, `browser`.

`platform` registers the platform in the tool's database as an LMS admin would (registration plus
deployment "1"); each test gets fresh plans and records, and the tool's tables are emptied after it.
"""

from __future__ import annotations

import pytest

from tests.platform.browser import PlatformBrowser
from tests.platform.lms_services import LmsServices
from tests.platform.lms_services import bp as services_bp
from tests.platform.platform import TestPlatform, create_platform_app


def mount_services(app, platform: TestPlatform) -> None:
    """The LMS services (token, AGS, NRPS) on the platform's own app, at the URLs its launches name."""
    app.register_blueprint(services_bp)
    platform.app = app
    fresh_services(platform)


def fresh_services(platform: TestPlatform) -> LmsServices:
    """Forget every token, line item, score and member: each test starts with an empty gradebook."""
    services = LmsServices(client_id=platform.client_id, base_url=platform.base_url,
                           tool_jwks_url=platform.tool_jwks_url or None)
    platform.app.extensions["lms_services"] = services
    platform.services = services
    return services


def serve_platform(live_tool, *, client_id: str = "tool-client-1", host: str | None = None):
    """An independent platform over real HTTP that knows the live tool; (platform, server). `host` names the
    platform's site another way than 127.0.0.1 (the browser tests use localhost: another site than the tool)."""
    from tests.conftest import LiveServer

    platform = TestPlatform(client_id=client_id)
    app = create_platform_app(platform)
    mount_services(app, platform)
    server = LiveServer(app).start()
    platform.base_url = server.url if host is None else server.url.replace("127.0.0.1", host)
    platform.tool_login_url = live_tool.url + "/lti/login"
    platform.tool_launch_url = live_tool.url + "/lti/launch"
    platform.tool_jwks_url = live_tool.url + "/lti/jwks"
    return platform, server


@pytest.fixture(scope="session")
def platform_server(live_tool):
    platform, server = serve_platform(live_tool)
    yield platform
    server.stop()


def register_platform(app, platform: TestPlatform, deployment_ids=("1",), manages_catalog=True):
    """Store the platform's registration in the tool, as `flask platforms add` does."""
    from lti_tool.extensions import db
    from lti_tool.lti.models import Deployment, Registration

    with app.app_context():
        registration = Registration(
            name="Test LMS",
            issuer=platform.issuer,
            client_id=platform.client_id,
            auth_login_url=platform.auth_url,
            auth_token_url=platform.token_url,
            key_set_url=platform.jwks_url,
            product_family_code="moodle",
            is_default_for_issuer=True,
            manages_catalog=manages_catalog,
        )
        registration.deployments = [Deployment(deployment_id=d) for d in deployment_ids]
        db.session.add(registration)
        db.session.commit()
        return registration.id


@pytest.fixture
def platform(app, platform_server):
    """The platform, registered in the tool with deployment "1", with fresh state."""
    platform_server.forget()
    platform_server.issued_tokens.clear()
    platform_server.auth_errors.clear()
    platform_server.deep_link_responses.clear()
    platform_server.returns.clear()
    platform_server.keys = platform_server.keys[-1:]
    platform_server.jwks_requests = 0
    fresh_services(platform_server)
    register_platform(app, platform_server)
    return platform_server


@pytest.fixture(scope="session")
def other_platform_server(live_tool):
    """A second, independent LMS with its own keys, client id and issuer, served on its own port."""
    platform, server = serve_platform(live_tool, client_id="tool-client-other")
    yield platform
    server.stop()


@pytest.fixture
def other_platform(app, other_platform_server):
    """The second LMS, registered in the tool too, with fresh state: one platform must never see another's."""
    other_platform_server.plans.clear()
    fresh_services(other_platform_server)
    register_platform(app, other_platform_server)
    return other_platform_server


@pytest.fixture
def browser(platform):
    return PlatformBrowser(platform)
