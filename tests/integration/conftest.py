"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer
from tests.platform.lms_services import LmsServices, create_services_app


@pytest.fixture
def lms(live_tool):
    """The platform's AGS/NRPS services over real HTTP; they verify the tool's assertions against its live JWKS."""
    services = LmsServices(tool_jwks_url=f"{live_tool.url}/lti/jwks")
    server = LiveServer(create_services_app(services)).start()
    services.base_url = server.url
    services.server = server
    yield services
    server.stop()
