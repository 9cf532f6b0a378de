"""The launch reference (ltik) and its session: round trip, forgery, lifetimes, browser binding, origin."""

import time
from dataclasses import replace

import pytest
from itsdangerous import URLSafeTimedSerializer

from lti_tool.core.errors import NotAllowed
from lti_tool.lti.browser_binding import BROWSER_COOKIE, browser_hash, is_same_origin_request
from lti_tool.lti.launch_context import (
    SALT,
    LaunchContext,
    SessionExpired,
    issue_launch_token,
    issue_session_token,
    read_launch_token,
    renew_launch_token,
)

NOW = int(time.time())
LAUNCH = LaunchContext("launch-1", 7, 3, 5, 11, ("educator",), "https://lms.example/return", session_started_at=NOW)
BROWSER_ID = "b" * 43
BOUND = replace(LAUNCH, browser=browser_hash(BROWSER_ID))


@pytest.fixture
def in_request(app):
    with app.test_request_context("/"):
        yield app


def _with_cookie(app, value: str):
    return app.test_request_context("/", headers={"Cookie": f"{BROWSER_COOKIE}={value}"})


def test_round_trip(in_request):
    assert read_launch_token(issue_launch_token(LAUNCH)) == LAUNCH


def test_a_launch_context_without_a_session_starts_one_when_signed(in_request):
    launch = read_launch_token(issue_launch_token(replace(LAUNCH, session_started_at=None)))
    assert abs(launch.session_started_at - time.time()) < 5


def test_forged_token_is_refused(in_request):
    forged = URLSafeTimedSerializer("not-the-secret", salt=SALT).dumps({**LAUNCH.to_payload(), "k": ["admin"]})
    with pytest.raises(NotAllowed, match="not valid"):
        read_launch_token(forged)


def test_tampered_token_is_refused(in_request):
    token = issue_launch_token(LAUNCH)
    with pytest.raises(NotAllowed):
        read_launch_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_an_unbound_reference_expires_after_its_short_lifetime(in_request, monkeypatch):
    token = issue_launch_token(LAUNCH)
    monkeypatch.setitem(in_request.config, "LTI_REFERENCE_MAX_AGE", -1)
    with pytest.raises(SessionExpired, match="expired") as caught:
        read_launch_token(token)
    assert caught.value.status == 401
    assert "anything you saved is kept" in caught.value.hint


def test_a_bound_reference_needs_its_browser_cookie(app, app_context):
    token = issue_launch_token(BOUND)
    with app.test_request_context("/"), pytest.raises(NotAllowed, match="another browser"):
        read_launch_token(token)
    with _with_cookie(app, "c" * 43), pytest.raises(NotAllowed, match="another browser"):
        read_launch_token(token)
    with _with_cookie(app, BROWSER_ID):
        assert read_launch_token(token) == BOUND


def test_a_bound_reference_outlives_the_short_lifetime_in_its_browser(app, app_context, monkeypatch):
    token = issue_launch_token(BOUND)
    monkeypatch.setitem(app.config, "LTI_REFERENCE_MAX_AGE", -1)
    with _with_cookie(app, BROWSER_ID):
        assert read_launch_token(token) == BOUND


@pytest.mark.parametrize("launch", [LAUNCH, BOUND], ids=["unbound", "bound"])
def test_every_session_ends_eight_hours_after_its_launch(app, app_context, launch):
    assert app.config["LTI_SESSION_MAX_AGE"] == 8 * 3600
    token = issue_launch_token(replace(launch, session_started_at=int(time.time()) - 8 * 3600 - 5))
    with _with_cookie(app, BROWSER_ID), pytest.raises(SessionExpired, match="ended") as caught:
        read_launch_token(token)
    assert "Open the activity again from your course" in caught.value.hint


def test_the_session_token_and_the_reference_are_not_interchangeable(in_request):
    with pytest.raises(NotAllowed, match="not valid"):
        read_launch_token(issue_session_token(LAUNCH))
    with pytest.raises(NotAllowed, match="not valid"):
        renew_launch_token(issue_launch_token(LAUNCH))


def test_a_session_token_cannot_be_renewed_from_another_site(app, app_context):
    token = issue_session_token(LAUNCH)
    cross_site = {"Sec-Fetch-Site": "cross-site"}
    with app.test_request_context("/", method="POST", headers=cross_site), pytest.raises(NotAllowed, match="own"):
        renew_launch_token(token)


def test_a_session_token_cannot_be_renewed_after_the_session(app, app_context):
    token = issue_session_token(replace(LAUNCH, session_started_at=int(time.time()) - 8 * 3600 - 5))
    with app.test_request_context("/lti/session/renew", method="POST"), pytest.raises(SessionExpired):
        renew_launch_token(token)


@pytest.mark.parametrize(
    ("headers", "ours"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "same-origin", "Origin": "null"}, True),  # no-referrer pages: the browser decides
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://tool.example"}, False),
        ({"Sec-Fetch-Site": "none"}, False),
        ({"Origin": "https://tool.example"}, True),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({}, True),  # no browser at all: no page can make a script send this
    ],
)
def test_only_the_tools_own_pages_count_as_same_origin(app, monkeypatch, headers, ours):
    monkeypatch.setitem(app.config, "BASE_URL", "https://tool.example")
    with app.test_request_context("/x", method="POST", headers=headers):
        assert is_same_origin_request() is ours


def test_pages_refuse_requests_without_a_launch(client):
    response = client.get("/lti/home")
    assert response.status_code == 403
    assert b"opened from your course" in response.data
