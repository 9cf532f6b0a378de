"""Health checks answer, and every page carries the security headers."""


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_readyz_checks_database_and_cache(client):
    assert client.get("/readyz").json == {"status": "ok"}


def test_a_page_outside_a_launch_may_be_framed_by_the_tool_alone(client, app):
    from lti_tool.extensions import db
    from lti_tool.lti.models import Registration

    with app.app_context():
        db.session.add(Registration(name="LMS", issuer="https://lms.example.edu", client_id="c1",
                                    auth_login_url="https://auth.example.edu/auth", auth_token_url="https://lms.example.edu/token"))
        db.session.commit()
    policy = client.get("/lti/home").headers["Content-Security-Policy"]
    assert policy == "script-src 'self'; object-src 'none'; base-uri 'none'; connect-src 'self'; frame-ancestors 'self'"
