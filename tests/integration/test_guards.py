"""Guards that a planted bug once removed unseen: each test here fails when its guard goes.

- the authorized party: an id_token for several audiences must name this tool in `azp` (OpenID Connect Core
  §3.1.3.7 steps 3–5, 1EdTech Security Framework §5.1.3 steps 3–5);
- the Deep Linking answer (`POST /lti/deep-link`) is an instructor's: a learner's post is refused and nothing is
  signed for the platform (Deep Linking 2.0 §4.2 is the tool speaking for the course).
"""

from __future__ import annotations

import re

import jwt
import pytest

from tests.nothing_changed import nothing_changes
from tests.platform.platform import LTI

SLUG = "self-assessment-growth"
# A compact JWS: base64url JSON header and payload (both start `{"` -> `eyJ`), then a signature.
COMPACT_JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")


def _launch_form(browser, **plan) -> tuple[str, str]:
    """Login and authorization as the LMS drives them: the id_token and state the browser would post."""
    login, _ = browser.platform.next_launch(**plan)
    return browser.authorize(browser.start_login(login))


def _nonce_was_used(app, id_token: str) -> bool:
    """Has the tool recorded this id_token's nonce as spent (the launch got past every check before it)?"""
    from lti_tool.extensions import cache
    from lti_tool.lti.launch import USED_NONCE_KEY, _digest

    body = jwt.decode(id_token, options={"verify_signature": False})
    with app.app_context():
        return cache.get(USED_NONCE_KEY + _digest(body["iss"], body["nonce"])) is not None


def _page_text(response) -> str:
    """The visible words of a page's main part, for a readable failure."""
    main = response.text.split("<main", 1)[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))[:600]


# -- several audiences: azp must be this tool --------------------------------------------------------------
def test_several_audiences_without_azp_are_refused_and_nothing_is_recorded(app, browser, platform):
    id_token, state = _launch_form(browser, claims={"aud": [platform.client_id, "another-tool"]},
                                   remove_claims=("azp",))
    assert "azp" not in jwt.decode(id_token, options={"verify_signature": False})

    with nothing_changes(app):
        response = browser.post_launch(id_token, state, follow=False)

    assert response.status_code == 401
    assert "authorized party (azp)" in response.text
    assert not _nonce_was_used(app, id_token)  # refused before the nonce is spent: the LMS may launch again


def test_several_audiences_with_another_tool_as_azp_are_refused(app, browser, platform):
    id_token, state = _launch_form(browser, claims={"aud": [platform.client_id, "another-tool"],
                                                    "azp": "another-tool"})
    with nothing_changes(app):
        response = browser.post_launch(id_token, state, follow=False)

    assert response.status_code == 401
    assert "meant for another tool" in response.text  # azp names the registration it is checked against
    assert not _nonce_was_used(app, id_token)


@pytest.mark.parametrize("first", [True, False], ids=["this-tool-first", "another-tool-first"])
def test_several_audiences_with_this_tool_as_azp_are_accepted(app, browser, platform, first):
    audiences = [platform.client_id, "another-tool"] if first else ["another-tool", platform.client_id]
    id_token, state = _launch_form(browser, claims={"aud": audiences, "azp": platform.client_id})
    response = browser.post_launch(id_token, state)

    assert response.status_code == 200, _page_text(response)
    assert "not set up yet" in response.text
    assert _nonce_was_used(app, id_token)
    from lti_tool.extensions import db
    from lti_tool.lti.models import LtiUser

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(LtiUser)) == 1


def test_a_single_audience_without_azp_is_accepted(browser, platform):
    id_token, state = _launch_form(browser, remove_claims=("azp",))
    assert browser.post_launch(id_token, state).status_code == 200


# -- the Deep Linking answer is an instructor's --------------------------------------------------------------
def _nothing_signed_for_the_platform(response, platform) -> None:
    """No LtiDeepLinkingResponse in the page: no form to the platform, no JWT the platform would accept."""
    assert 'name="JWT"' not in response.text
    assert platform.base_url + "/deep-link-return" not in response.text
    for token in COMPACT_JWT.findall(response.text):
        with pytest.raises((jwt.InvalidTokenError, ValueError)):  # the tool signed nothing for the platform
            platform.verify_tool_jwt(token)
    assert platform.deep_link_responses == []
    assert platform.services.line_items == {}


@pytest.mark.parametrize("header", [False, True], ids=["ltik-in-body", "ltik-in-header"])
def test_a_learner_posting_the_deep_linking_answer_is_refused_and_nothing_is_signed(
        app, browser, live_tool, platform, catalog, header):
    picker = browser.launch(person="learner", message_type="LtiDeepLinkingRequest")
    assert picker.status_code == 403  # the GET picker is refused too (test_placement)
    assert picker.ltik, "the learner's deep linking launch carries a launch reference"
    request = ({"headers": {"X-Launch-Token": picker.ltik}, "data": {"microcredential": SLUG}} if header
               else {"data": {"ltik": picker.ltik, "microcredential": SLUG}})

    with nothing_changes(app):
        answer = browser.post(live_tool.url + "/lti/deep-link", **request)

    assert answer.status_code == 403
    assert "does not give access" in answer.text
    _nothing_signed_for_the_platform(answer, platform)


def test_a_learner_reference_from_an_ordinary_launch_cannot_post_the_deep_linking_answer(
        app, browser, live_tool, platform, catalog):
    learner = browser.launch(person="learner", custom={"microcredential": SLUG})
    assert learner.status_code == 200 and learner.ltik

    with nothing_changes(app):
        answer = browser.post(live_tool.url + "/lti/deep-link", data={"ltik": learner.ltik, "microcredential": SLUG})

    assert answer.status_code == 403
    assert "does not give access" in answer.text
    _nothing_signed_for_the_platform(answer, platform)


def test_the_instructor_posting_the_same_answer_gets_it_signed(app, browser, live_tool, platform, catalog):
    """The counterpart: the refusal above is the role's, not a broken endpoint."""
    picker = browser.launch(person="instructor", message_type="LtiDeepLinkingRequest")
    answer = browser.post(live_tool.url + "/lti/deep-link", data={"ltik": picker.ltik, "microcredential": SLUG})

    assert answer.status_code == 200
    (token,) = COMPACT_JWT.findall(answer.text)
    assert platform.verify_tool_jwt(token)[LTI + "message_type"] == "LtiDeepLinkingResponse"


# -- the check the refusal tests lean on ----------------------------------------------------------------------
def _launch_while_nothing_may_change(app, browser) -> None:
    with nothing_changes(app):
        browser.launch(person="learner")


def _leave_a_file_while_nothing_may_change(app, path) -> None:
    with nothing_changes(app):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left behind")


def test_nothing_changes_names_what_a_request_wrote(app, browser):
    """`nothing_changes` itself: a launch that records a person fails it, and the message names the table."""
    with pytest.raises(AssertionError, match=r"lti_user: 0 -> 1 rows\n  \+ .*user-learner-1"):
        _launch_while_nothing_may_change(app, browser)


def test_nothing_changes_names_a_file_left_in_storage(app):
    from pathlib import Path

    root = Path(app.config.get("UPLOAD_DIR") or Path(app.instance_path) / "uploads")
    stray = root / "ff" / ("0" * 30)
    with pytest.raises(AssertionError, match=r"<upload storage>: \d+ -> \d+ files\n  \+ ff/0{30} \(11 bytes\)"):
        _leave_a_file_while_nothing_may_change(app, stray)
    stray.unlink()
