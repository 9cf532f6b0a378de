"""The signed launch reference (ltik): round trip, forgery, expiry."""

import pytest
from itsdangerous import URLSafeTimedSerializer

from lti_tool.core.errors import NotAllowed
from lti_tool.lti.launch_context import SALT, LaunchContext, issue_launch_token, read_launch_token

LAUNCH = LaunchContext("launch-1", 7, 3, 5, 11, ("educator",), "https://lms.example/return")


def test_round_trip(app_context):
    assert read_launch_token(issue_launch_token(LAUNCH)) == LAUNCH


def test_forged_token_is_refused(app_context):
    forged = URLSafeTimedSerializer("not-the-secret", salt=SALT).dumps({**LAUNCH.to_payload(), "k": ["admin"]})
    with pytest.raises(NotAllowed, match="not valid"):
        read_launch_token(forged)


def test_tampered_token_is_refused(app_context):
    token = issue_launch_token(LAUNCH)
    with pytest.raises(NotAllowed):
        read_launch_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_expired_token_is_refused_with_a_way_forward(app_context, app):
    token = issue_launch_token(LAUNCH)
    app.config["LTI_LAUNCH_TOKEN_MAX_AGE"] = -1
    try:
        with pytest.raises(NotAllowed, match="expired") as caught:
            read_launch_token(token)
        assert "again" in caught.value.hint
    finally:
        app.config["LTI_LAUNCH_TOKEN_MAX_AGE"] = 8 * 3600


def test_pages_refuse_requests_without_a_launch(client):
    response = client.get("/lti/home")
    assert response.status_code == 403
    assert b"opened from your course" in response.data


def test_post_takes_the_token_from_the_body_only(client, app):
    with app.app_context():
        token = issue_launch_token(LaunchContext("l", 1, 1, 1, 1, ("instructor",)))
    # A token in the query string of a POST does not count: forms must carry it in their body (CSRF).
    response = client.post(f"/lti/bind?ltik={token}", data={"microcredential": "x"})
    assert response.status_code == 403
