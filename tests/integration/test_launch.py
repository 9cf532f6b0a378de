"""Login and launch through real HTTP from the independent platform: what succeeds and every way it must fail.

Each refused launch is its own test: a clear page (4xx) that says what went wrong, a link back to the
LMS where the token names a trusted return URL, and nothing stored.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.nothing_changed import nothing_changes
from tests.platform.browser import forms_in
from tests.platform.platform import LTI, PlatformKey


def _rows(app, model) -> int:
    from lti_tool.extensions import db

    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model))


def _refused(app, browser, **plan):
    """A launch the platform planned to fail: its answer, posted while nothing in the tool may change."""
    login, _ = browser.platform.next_launch(**plan)
    id_token, state = browser.authorize(browser.start_login(login))
    with nothing_changes(app):
        response = browser.post_launch(id_token, state, follow=False)
    return response, id_token, state


# -- what works -------------------------------------------------------------------------------------------
def test_login_redirects_to_the_platform_with_state_nonce_and_a_partitioned_cookie(browser, platform):
    login, _ = platform.next_launch()
    response = browser.start_login(login)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == platform.auth_url
    assert query["redirect_uri"] == platform.tool_launch_url
    assert query["login_hint"] == login["login_hint"]
    assert query["lti_message_hint"] == login["lti_message_hint"]
    assert query["state"] and query["nonce"] and query["state"] != query["nonce"]
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "SameSite=None" in cookie and "Partitioned" in cookie


def test_login_by_post_works_like_get(browser, platform):
    login, _ = platform.next_launch()
    id_token, state = browser.authorize(browser.start_login(login, method="POST"))
    assert browser.post_launch(id_token, state).status_code == 200


def test_learner_launch_on_an_unbound_link_is_told_it_is_not_set_up(app, browser):
    result = browser.launch(person="learner")

    assert result.status_code == 200
    assert "not set up yet" in result.text
    assert "Ada Lovelace" in result.text
    from lti_tool.lti.models import LtiUser

    assert _rows(app, LtiUser) == 1


def test_launch_records_user_course_resource_link_and_services(app, browser, platform):
    browser.launch(person="learner", custom={"microcredential": "self-assessment-growth"})

    from lti_tool.extensions import db
    from lti_tool.lti.models import Context, LtiUser, Membership, ResourceLink

    with app.app_context():
        user = db.session.scalar(db.select(LtiUser))
        context = db.session.scalar(db.select(Context))
        link = db.session.scalar(db.select(ResourceLink))
        membership = db.session.scalar(db.select(Membership))
        assert (user.given_name, user.email) == ("Ada", "ada@school.example")
        assert context.title == "Professional Learning 2026"
        assert context.memberships_url == platform.base_url + "/memberships/course-1"
        assert context.lineitems_url == platform.base_url + "/lineitems/course-1"
        assert link.microcredential_slug == "self-assessment-growth"
        assert any(role.endswith("#Learner") for role in membership.roles)


def test_the_launch_reference_carries_the_launch_to_the_next_request(browser, platform):
    result = browser.launch(person="learner")
    assert result.ltik

    again = browser.get(result.url)  # the same browser (its partitioned cookie); another client: test_launch_session
    assert again.status_code == 200
    assert "not set up yet" in again.text


def test_a_tampered_launch_reference_is_refused(app, browser, live_tool):
    result = browser.launch(person="learner")
    import requests

    with nothing_changes(app):
        response = requests.get(live_tool.url + "/lti/home", params={"ltik": result.ltik[:-2] + "xx"}, timeout=5)
    assert response.status_code == 403
    assert "This link is not valid." in response.text


def test_no_launch_reference_at_all_is_refused(live_tool):
    import requests

    response = requests.get(live_tool.url + "/lti/home", timeout=5)
    assert response.status_code == 403
    assert "can only be opened from your course" in response.text


@pytest.mark.parametrize(
    ("person", "expected"),
    [("learner", "not set up yet"), ("guest", "does not give you access")],
)
def test_duty_follows_the_role(browser, person, expected):
    result = browser.launch(person=person)
    assert expected in result.text


# -- every way a launch must fail -------------------------------------------------------------------------
def test_expired_token_is_refused(app, browser):
    response, _, _ = _refused(app, browser, issued_at_offset=-600, lifetime=60)
    assert response.status_code == 401
    assert "expired" in response.text


def test_token_issued_in_the_future_beyond_the_skew_is_refused(app, browser):
    response, _, _ = _refused(app, browser, issued_at_offset=120)
    assert response.status_code == 401
    assert "future" in response.text


def test_a_small_clock_skew_is_tolerated(browser):
    login, _ = browser.platform.next_launch(issued_at_offset=3)
    id_token, state = browser.authorize(browser.start_login(login))
    assert browser.post_launch(id_token, state).status_code == 200


def test_wrong_audience_is_refused(app, browser):
    response, _, _ = _refused(app, browser, claims={"aud": "another-tool"})
    assert response.status_code == 401
    assert "meant for another tool" in response.text


def test_audience_list_with_a_foreign_azp_is_refused(app, browser, platform):
    response, _, _ = _refused(app, browser, claims={"aud": [platform.client_id, "other"],
                                                    "azp": platform.client_id + "x"})
    assert response.status_code == 401
    assert "another tool" in response.text or "authorized party" in response.text


def test_wrong_issuer_is_refused(app, browser):
    response, _, _ = _refused(app, browser, claims={"iss": "https://lms.attacker.example"})
    assert response.status_code == 401
    assert "This LMS is not registered" in response.text


def test_unknown_kid_is_refused(app, browser):
    stranger = PlatformKey.generate()  # a key the platform never published
    response, _, _ = _refused(app, browser, signing_key=stranger)
    assert response.status_code == 401
    assert "key" in response.text.lower()


def test_alg_none_is_refused(app, browser):
    response, _, _ = _refused(app, browser, algorithm="none")
    assert response.status_code == 401
    assert "RS256" in response.text


def test_hs256_signed_with_the_public_key_is_refused(app, browser):
    response, _, _ = _refused(app, browser, algorithm="HS256")
    assert response.status_code == 401
    assert "RS256" in response.text


def test_tampered_signature_is_refused(app, browser):
    login, _ = browser.platform.next_launch()
    id_token, state = browser.authorize(browser.start_login(login))
    header, payload, signature = id_token.split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims[LTI + "roles"] = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with nothing_changes(app):
        response = browser.post_launch(f"{header}.{forged}.{signature}", state, follow=False)
    assert response.status_code == 401
    assert "signature" in response.text


def test_replayed_nonce_is_refused(app, browser):
    first = browser.launch(person="learner")
    assert first.status_code == 200
    # An attacker who captured the id_token tries it again, with a fresh login's valid state.
    login, _ = browser.platform.next_launch()
    _, fresh_state = browser.authorize(browser.start_login(login))
    with nothing_changes(app):
        replay = browser.post_launch(first.id_token, fresh_state, follow=False)
    assert replay.status_code == 401
    assert "already used" in replay.text or "nonce" in replay.text


def test_the_same_form_posted_twice_is_refused(app, browser):
    first = browser.launch(person="learner")
    with nothing_changes(app):
        again = browser.post_launch(first.id_token, first.state, follow=False)
    assert again.status_code == 401


def test_nonce_not_issued_by_the_tool_is_refused(app, browser):
    response, _, _ = _refused(app, browser, echo_nonce=False)
    assert response.status_code == 401
    assert "nonce" in response.text


def test_missing_state_is_refused(app, browser):
    login, _ = browser.platform.next_launch()
    id_token, _ = browser.authorize(browser.start_login(login))
    with nothing_changes(app):
        response = browser.post_launch(id_token, None, follow=False)
    assert response.status_code == 401
    assert "state" in response.text


def test_wrong_state_is_refused_with_a_new_window_offer(app, browser):
    login, _ = browser.platform.next_launch()
    id_token, _ = browser.authorize(browser.start_login(login))
    with nothing_changes(app):
        response = browser.post_launch(id_token, "not-the-state", follow=False)
    assert response.status_code == 401
    assert "new window" in response.text.lower()


def test_state_without_its_cookie_is_refused(app, browser):
    login, _ = browser.platform.next_launch()
    id_token, state = browser.authorize(browser.start_login(login))
    browser.session.cookies.clear()  # third-party cookies blocked and no postMessage storage
    with nothing_changes(app):
        response = browser.post_launch(id_token, state, follow=False)
    assert response.status_code == 401
    assert "new window" in response.text.lower()


def test_unknown_deployment_is_refused(app, browser):
    response, _, _ = _refused(app, browser, claims={LTI + "deployment_id": "never-deployed"})
    assert response.status_code == 400
    assert "This LMS deployment is not registered with the tool (unknown deployment id)." in response.text


@pytest.mark.parametrize(
    ("claim", "explanation"),
    [
        (LTI + "message_type", "The launch message is not valid: Invalid message type."),
        (LTI + "version", "The launch message is not valid: Incorrect version, expected 1.3.0."),
        (LTI + "deployment_id", "This LMS deployment is not registered with the tool"),
        (LTI + "roles", "The launch message is not valid: Missing Roles Claim."),
        (LTI + "resource_link", "The launch message is not valid: Missing Resource Link Id."),
        ("sub", "The launch message is not valid: Must have a user (sub)."),
    ],
)
def test_missing_required_claim_is_refused(app, browser, claim, explanation):
    response, _, _ = _refused(app, browser, remove_claims=(claim,))
    assert response.status_code == 400
    assert explanation in response.text


def test_wrong_message_type_is_refused(app, browser):
    response, _, _ = _refused(app, browser, claims={LTI + "message_type": "LtiSomethingElse"})
    assert response.status_code == 400
    assert "The launch message is not valid: Unrecognized message type." in response.text


def test_wrong_version_is_refused(app, browser):
    response, _, _ = _refused(app, browser, claims={LTI + "version": "1.1"})
    assert response.status_code == 400
    assert "Incorrect version, expected 1.3.0." in response.text


def test_refused_launch_links_back_to_the_lms_with_lti_errormsg(app, browser, platform):
    response, _, _ = _refused(app, browser, claims={LTI + "version": "1.1"})
    back = [part for part in response.text.split('"') if part.startswith(platform.return_url)]
    assert back, "the error page links back to the LMS"
    query = parse_qs(urlsplit(back[0].replace("&amp;", "&")).query)
    assert query["lti_errormsg"][0]


def test_login_for_an_unregistered_issuer_is_refused(app, browser, platform):
    login, _ = platform.next_launch()
    login["iss"] = "https://unknown-lms.example"
    with nothing_changes(app):
        response = browser.start_login(login)
    assert response.status_code in (400, 401)
    assert "register" in response.text.lower()


def test_login_for_a_foreign_target_link_uri_is_refused(app, browser, platform):
    login, _ = platform.next_launch()
    login["target_link_uri"] = "https://evil.example/steal"
    with nothing_changes(app):
        response = browser.start_login(login)
    assert response.status_code == 400
    assert "does not belong to this tool" in response.text


def test_garbage_id_token_is_refused(app, browser, platform):
    login, _ = platform.next_launch()
    _, state = browser.authorize(browser.start_login(login))
    with nothing_changes(app):
        response = browser.post_launch("not-a-jwt", state, follow=False)
    assert 400 <= response.status_code < 500


# -- the platform's keys ---------------------------------------------------------------------------------
def test_platform_keys_are_cached_between_launches(browser, platform):
    browser.launch()
    browser.launch()
    browser.launch()
    assert platform.jwks_requests == 1


def test_a_rotated_platform_key_is_fetched_once_when_its_kid_first_arrives(browser, platform):
    browser.launch()
    platform.rotate_key()
    assert browser.launch().status_code == 200
    assert browser.launch().status_code == 200
    assert platform.jwks_requests == 2


def test_unknown_kids_do_not_hammer_the_platform(app, browser, platform):
    browser.launch()
    for _ in range(8):
        _refused(app, browser, signing_key=PlatformKey.generate())
    assert platform.jwks_requests == 1 + app.config["LTI_JWKS_REFETCH_BURST"]




def _storage_login(browser):
    """A login that offered the platform's postMessage storage, whose state cookie then got lost."""
    login, _ = browser.platform.next_launch()
    login["lti_storage_target"] = "_parent"
    page = browser.start_login(login)
    assert page.status_code == 200 and '<script type="application/json" id="login-storage">' in page.text
    import json
    import re

    data = re.search(r'<script type="application/json" id="login-storage">(.*?)</script>', page.text, re.S).group(1)
    auth_url = json.loads(data)["auth_url"]
    answer = browser.get(auth_url, allow_redirects=False)
    fields = forms_in(answer.text)[0]["fields"]
    browser.session.cookies.clear()
    return fields["id_token"], fields["state"]


def test_a_storage_login_without_its_cookie_asks_the_platform_storage(app, browser):
    id_token, state = _storage_login(browser)
    with nothing_changes(app):  # only a page asking the platform's storage, nothing recorded yet
        response = browser.post_launch(id_token, state, follow=False)
    assert response.status_code == 200
    assert '<script type="application/json" id="launch-storage-check">' in response.text


def test_the_storage_check_cannot_be_claimed_by_another_site(app, browser):
    """Login CSRF: a form on another site posting lti_storage_verified=1 is not the tool's own check page."""
    id_token, state = _storage_login(browser)
    with nothing_changes(app):
        forged = browser.post(browser.platform.tool_launch_url,
                              data={"id_token": id_token, "state": state, "lti_storage_verified": "1"},
                              headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert forged.status_code != 303


def test_the_storage_check_page_of_the_tool_completes_the_launch(browser):
    id_token, state = _storage_login(browser)
    tool_origin = browser.platform.tool_origin
    response = browser.post(browser.platform.tool_launch_url,
                            data={"id_token": id_token, "state": state, "lti_storage_verified": "1"},
                            headers={"Origin": tool_origin}, allow_redirects=False)
    assert response.status_code == 303


def test_a_cookie_login_cannot_be_vouched_for_by_storage(app, browser):
    login, _ = browser.platform.next_launch()
    id_token, state = browser.authorize(browser.start_login(login))
    browser.session.cookies.clear()
    with nothing_changes(app):
        response = browser.post(browser.platform.tool_launch_url,
                                data={"id_token": id_token, "state": state, "lti_storage_verified": "1"},
                                headers={"Origin": browser.platform.tool_origin}, allow_redirects=False)
    assert response.status_code == 401
