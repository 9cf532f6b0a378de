"""AGS and NRPS clients through real HTTP against the test platform's services."""

from __future__ import annotations

import jwt
import pytest
import requests

from lti_tool.core.keys import key_store
from lti_tool.extensions import db
from lti_tool.gradebook.services import ensure_line_item
from lti_tool.lti import ags, nrps
from lti_tool.lti.access_tokens import SCOPE_SCORE, ServiceError, access_token, client_assertion, next_page_url
from lti_tool.lti.models import LineItem, ResourceLink
from tests.factories import make_course

COURSE = "Course-1"


@pytest.fixture
def link(app_context, lms) -> ResourceLink:
    resource_link, _ = make_course(lms, users=0, with_line_item=False)
    return resource_link


def test_the_client_assertion_follows_the_security_framework(link):
    registration = link.context.deployment.registration
    key = key_store().signing_key()
    token = client_assertion(registration)

    assert jwt.get_unverified_header(token)["kid"] == key.kid
    claims = jwt.decode(token, key.public_pem, algorithms=["RS256"], audience=registration.auth_token_url)
    assert claims["iss"] == claims["sub"] == registration.client_id
    assert claims["exp"] > claims["iat"]
    assert (
        claims["jti"]
        != jwt.decode(
            client_assertion(registration), key.public_pem, algorithms=["RS256"], audience=registration.auth_token_url
        )["jti"]
    )


def test_the_token_audience_can_differ_from_the_token_url(link, lms):
    registration = link.context.deployment.registration
    lms.token_audience = "https://lms.example/oauth2/token-audience"
    with pytest.raises(ServiceError) as refused:
        access_token(registration, [SCOPE_SCORE])
    assert refused.value.status == 401
    assert not refused.value.retryable

    registration.auth_audience = lms.token_audience
    assert access_token(registration, [SCOPE_SCORE])


def test_tokens_are_cached_per_scope_set(link, lms):
    registration = link.context.deployment.registration
    first = access_token(registration, [SCOPE_SCORE])
    assert access_token(registration, [SCOPE_SCORE]) == first
    other = access_token(registration, [ags.SCOPE_RESULT_READONLY, SCOPE_SCORE])
    assert other != first
    assert access_token(registration, [SCOPE_SCORE, ags.SCOPE_RESULT_READONLY]) == other  # order does not matter
    assert len(lms.token_requests) == 2


def test_an_existing_line_item_is_found_by_resource_link_id(link, lms):
    lms.add_line_item(COURSE, label="Another activity", scoreMaximum=5, resourceLinkId="RL-2")
    existing = lms.add_line_item(
        COURSE, label="Reflective Practice", scoreMaximum=20, resourceLinkId="RL-1", tag="microcredential"
    )

    line_item = ensure_line_item(link)
    db.session.commit()

    assert line_item.url == existing["id"]
    assert line_item.score_maximum == 20
    assert lms.requests_to(f"/lineitems/{COURSE}", "POST") == []
    [lookup] = lms.requests_to(f"/lineitems/{COURSE}", "GET")
    assert "resource_link_id=RL-1" in lookup.query
    assert ensure_line_item(link) is line_item  # known now: no second lookup
    assert len(lms.requests_to("/lineitems", "GET")) == 1


def test_a_missing_line_item_is_created(link, lms):
    line_item = ensure_line_item(link, label="Reflective Practice", score_maximum=4)
    db.session.commit()

    [created] = lms.line_items.values()
    assert created["context_id"] == COURSE
    review = created["data"].pop("submissionReview")  # Submission Review 1.0: the gradebook opens the attempt
    assert review["reviewableStatus"] and review["url"].endswith("/lti/launch")
    assert created["data"] == {
        "label": "Reflective Practice",
        "scoreMaximum": 4,
        "resourceId": "reflective-practice",
        "tag": "microcredential",
        "resourceLinkId": "RL-1",
    }
    stored = db.session.scalars(db.select(LineItem)).one()
    assert stored.url == line_item.url
    assert stored.url.startswith(lms.lineitems_url(COURSE))
    assert (stored.resource_id, stored.tag, stored.score_maximum) == ("reflective-practice", "microcredential", 4)


def test_line_items_are_read_across_pages(link, lms):
    registration = link.context.deployment.registration
    for number in range(7):
        lms.add_line_item(COURSE, label=f"Item {number}", scoreMaximum=1, tag="microcredential")

    items = ags.find_line_items(registration, lms.lineitems_url(COURSE), tag="microcredential", limit=3)

    assert [item["label"] for item in items] == [f"Item {n}" for n in range(7)]
    assert len(lms.requests_to("/lineitems", "GET")) == 3


def test_scores_and_results(link, lms):
    registration = link.context.deployment.registration
    item = lms.add_line_item(COURSE, label="Reflective Practice", scoreMaximum=10, resourceLinkId="RL-1")
    first = ags.build_score("User-A", "Completed", "FullyGraded", score_given=7, score_maximum=10, comment="Good")
    ags.post_score(registration, item["id"], first)
    ags.post_score(registration, item["id"], ags.build_score("User-B", "Submitted", "PendingManual"))

    assert ags.get_line_item(registration, item["id"])["label"] == "Reflective Practice"
    results = {r["userId"]: r for r in ags.get_results(registration, item["id"])}
    assert results["User-A"]["resultScore"] == 7
    assert results["User-A"]["comment"] == "Good"
    assert "resultScore" not in results["User-B"]
    [mine] = ags.get_results(registration, item["id"], user_sub="User-A")
    assert mine["resultMaximum"] == 10


def test_a_refused_score_carries_the_lms_message(link, lms):
    registration = link.context.deployment.registration
    item = lms.add_line_item(COURSE, label="Reflective Practice", scoreMaximum=10)
    lms.fail_next("/lineitems", status=404, message="Line item was deleted")

    with pytest.raises(ServiceError) as refused:
        ags.post_score(registration, item["id"], ags.build_score("User-A", "Started", "NotReady"))

    assert refused.value.status == 404
    assert not refused.value.retryable
    assert "Line item was deleted" in refused.value.message


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"score_given": 11, "score_maximum": 10}, "exceed"),
        ({"score_given": -1, "score_maximum": 10}, "negative"),
        ({"score_given": 1, "score_maximum": 0}, "positive"),
    ],
)
def test_impossible_scores_are_refused_before_sending(arguments, problem):
    with pytest.raises(ValueError, match=problem):
        ags.build_score("User-A", "Completed", "FullyGraded", **arguments)


def test_unknown_progress_values_are_refused():
    with pytest.raises(ValueError, match="activityProgress"):
        ags.build_score("User-A", "Done", "FullyGraded")
    with pytest.raises(ValueError, match="gradingProgress"):
        ags.build_score("User-A", "Completed", "Graded")


def test_the_whole_roster_is_read_across_mixed_case_next_links(link, lms):
    registration = link.context.deployment.registration
    members = [
        {"user_id": f"User-{n}", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]}
        for n in range(23)
    ]
    lms.add_members(COURSE, members, context={"id": COURSE, "label": "TP", "title": "Teaching Practice"})

    container = nrps.read_memberships(registration, lms.memberships_url(COURSE), limit=5)

    assert [m["user_id"] for m in container["members"]] == [f"User-{n}" for n in range(23)]
    assert container["context"]["title"] == "Teaching Practice"
    pages = lms.requests_to("/memberships", "GET")
    assert [p.status for p in pages] == [200] * 5
    assert any(c.isupper() for c in pages[1].path + pages[1].query)
    assert len(nrps.read_roster(registration, lms.memberships_url(COURSE))) == 23


def test_the_platform_refuses_a_lower_cased_next_link(link, lms):
    """The trap pylti1p3 falls into: its lower-cased `next` URL does not exist."""
    registration = link.context.deployment.registration
    lms.add_members(COURSE, [{"user_id": f"User-{n}", "roles": []} for n in range(3)])
    token = access_token(registration, [nrps.SCOPE_MEMBERSHIPS])
    first = requests.get(
        lms.memberships_url(COURSE), params={"limit": 2}, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    next_url = first.links["next"]["url"]

    lowered = requests.get(next_url.lower(), headers={"Authorization": f"Bearer {token}"}, timeout=5)
    exact = requests.get(next_url, headers={"Authorization": f"Bearer {token}"}, timeout=5)

    assert lowered.status_code == 404
    assert exact.status_code == 200
    assert [m["user_id"] for m in exact.json()["members"]] == ["User-2"]


def test_a_next_link_to_another_site_is_refused(link, lms):
    """The bearer token must never be sent anywhere but the platform."""
    response = requests.Response()
    response.url = lms.memberships_url(COURSE)
    response.headers["Link"] = '<https://elsewhere.example/steal>; rel="next"'

    with pytest.raises(ServiceError, match="another site"):
        next_page_url(response)
    response.headers["Link"] = '</memberships/Course-1/NextPage?Cursor=AbC>; rel="prev next", <x>; rel=last'
    assert next_page_url(response) == f"{lms.base_url}/memberships/Course-1/NextPage?Cursor=AbC"


def test_the_roster_needs_its_scope(link, lms):
    registration = link.context.deployment.registration
    lms.add_members(COURSE, [{"user_id": "User-1", "roles": []}])
    lms.granted_scopes = frozenset({SCOPE_SCORE})

    with pytest.raises(ServiceError) as refused:
        nrps.read_memberships(registration, lms.memberships_url(COURSE))
    assert refused.value.status == 400  # invalid_scope at the token endpoint


def test_a_line_item_the_tool_creates_reads_as_a_percentage(link, lms):
    ensure_line_item(link)
    db.session.commit()

    [created] = lms.line_items.values()
    assert created["data"]["scoreMaximum"] == ags.SCORE_MAXIMUM == 100  # Earned = 100, Not yet = the share met
    assert db.session.scalars(db.select(LineItem)).one().score_maximum == 100


# -- the roster button: only where the LMS offers its roster -----------------------------------------------------
def _instructor_page(platform, **plan):
    from tests.platform.browser import PlatformBrowser

    browser = PlatformBrowser(platform)
    page = browser.launch(person="instructor", custom={"microcredential": "self-assessment-growth"}, **plan)
    assert page.status_code == 200 and "/progress/" in page.url, page.text[:500]
    return browser, page


def test_a_course_without_a_roster_service_offers_no_refresh_and_refuses_one(app, platform, live_tool, catalog):
    from tests.nothing_changed import nothing_changes
    from tests.platform.platform import NRPS_CLAIM

    platform.services.add_members("course-1", [{"user_id": "edu-x", "name": "Xan Xu", "roles": []}])
    browser, page = _instructor_page(platform, remove_claims=(NRPS_CLAIM,))
    assert "Refresh roster from the LMS" not in page.text
    assert "does not offer its roster" in page.text

    with nothing_changes(app):
        refused = browser.post(live_tool.url + "/progress/sync", data={"ltik": page.ltik})
    assert refused.status_code == 409
    assert "does not offer its roster" in refused.text
    assert platform.services.requests_to("/memberships") == []


def test_a_course_with_a_roster_service_refreshes_it(app, platform, catalog):
    platform.services.add_members("course-1", [{"user_id": "edu-x", "name": "Xan Xu", "roles": []}])
    browser, page = _instructor_page(platform)
    assert "Refresh roster from the LMS" in page.text
    refreshed = browser.submit_form(page.response)  # the page's first form: the refresh
    assert refreshed.status_code == 200, refreshed.text[:500]
    assert "Roster refreshed from the LMS: 1 member" in refreshed.text
