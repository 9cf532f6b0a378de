"""Each request acts only on the attempt of the launch it carries, and an artifact URL tells nothing without one.

One person (Ada) works on two activities of the same course bound to two different micro-credentials (A and B):
two enrollments, two attempts. With the launch reference of activity A, every submission-page request naming B's
attempt or B's artifact — save, autosave, links, uploads (script and form), replace, remove, the confirmation page,
submit — is "not found" and changes nothing. The same micro-credential placed twice (two activities, one
enrollment) still shares its attempt. All through real HTTP with the independent platform.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.integration.test_uploads import PDF, artifacts, launch_context_of
from tests.nothing_changed import nothing_changes
from tests.platform.browser import forms_in

pytestmark = pytest.mark.usefixtures("running_term")

A = "self-assessment-growth"
B = "feedback-to-promote-learning"


def _page(browser, slug: str, resource_link_id: str):
    result = browser.launch(person="learner", custom={"microcredential": slug}, resource_link_id=resource_link_id)
    assert result.status_code == 200 and "/submission/" in result.url, result.text[:300]
    fields = forms_in(result.text)[0]["fields"]
    return result, fields


def _origin(result) -> str:
    return re.match(r"^(https?://[^/]+)", result.url).group(1)


@pytest.fixture
def two_activities(app, browser, catalog):
    """Ada's pages of activity A and activity B; B's attempt holds a saved text, a link and a file."""
    page_a, a = _page(browser, A, "activity-a")
    page_b, b = _page(browser, B, "activity-b")
    assert a["attempt_id"] != b["attempt_id"]
    url = _origin(page_b)
    saved = browser.post(url + "/submission/", data={**b, "action": "save", "overview": "B's own text"})
    assert saved.status_code == 200
    b = forms_in(saved.text)[0]["fields"]
    linked = browser.post(url + "/submission/links", data={"ltik": b["ltik"], "attempt_id": b["attempt_id"],
                                                           "artifact_url": "https://example.org/b"})
    assert linked.status_code == 200
    uploaded = browser.post(url + "/artifacts/upload", params={"attempt_id": b["attempt_id"]}, data=PDF, headers={
        "Content-Type": "application/octet-stream", "X-Launch-Token": b["ltik"], "X-File-Name": "b.pdf",
        "Accept": "application/json"})
    assert uploaded.status_code == 201
    page_a, a = _page(browser, A, "activity-a")  # a fresh page of A
    return url, a, b, [artifact.id for artifact in artifacts(app, int(b["attempt_id"]))]


def test_a_launch_of_one_activity_cannot_act_on_the_attempt_of_another(app, browser, two_activities):
    url, a, b, (link_id, file_id) = two_activities
    ltik, foreign = a["ltik"], b["attempt_id"]
    json_headers = {"X-Launch-Token": ltik, "Accept": "application/json"}
    raw = {**json_headers, "Content-Type": "application/octet-stream", "X-File-Name": "planted.pdf"}
    attempts = [
        ("save", lambda: browser.post(url + "/submission/", data={
            "ltik": ltik, "attempt_id": foreign, "version": b["version"], "action": "save", "overview": "planted"})),
        ("submit", lambda: browser.post(url + "/submission/", data={
            "ltik": ltik, "attempt_id": foreign, "version": b["version"], "action": "submit", "overview": "x"})),
        ("confirm", lambda: browser.post(url + "/submission/", data={
            "ltik": ltik, "attempt_id": foreign, "version": b["version"], "action": "confirm"})),
        ("confirmation page", lambda: browser.get(url + "/submission/confirm",
                                                  params={"ltik": ltik, "attempt_id": foreign})),
        ("autosave", lambda: browser.post(url + "/submission/autosave", headers=json_headers, data={
            "attempt_id": foreign, "version": b["version"], "overview": "planted"})),
        ("link", lambda: browser.post(url + "/submission/links", data={
            "ltik": ltik, "attempt_id": foreign, "artifact_url": "https://planted.example/"})),
        ("script upload", lambda: browser.post(url + "/artifacts/upload", params={"attempt_id": foreign},
                                               data=PDF, headers=raw)),
        ("form upload", lambda: browser.post(url + "/artifacts/upload", data={
            "ltik": ltik, "attempt_id": foreign, "version": b["version"], "overview": "planted"},
            files={"artifact_file": ("planted.pdf", PDF, "application/pdf")})),
        ("replace", lambda: browser.post(url + f"/artifacts/{file_id}/replace", params={"attempt_id": foreign},
                                         data=PDF, headers=raw)),
        ("remove file", lambda: browser.post(url + f"/artifacts/{file_id}/remove", data={"ltik": ltik})),
        ("remove link", lambda: browser.post(url + f"/artifacts/{link_id}/remove", data={"ltik": ltik})),
    ]
    for name, attempt in attempts:
        with nothing_changes(app):
            response = attempt()
        assert response.status_code == 404, (name, response.status_code, response.text[:300])
    # the text sent with a refused save is handed back, not lost
    refused = attempts[0][1]()
    assert "planted" in refused.text and "Your changes were not saved" in refused.text


def test_a_refused_link_is_handed_back(app, browser, two_activities):
    url, a, b, _ = two_activities
    with nothing_changes(app):
        refused = browser.post(url + "/submission/links", data={
            "ltik": a["ltik"], "attempt_id": b["attempt_id"], "artifact_url": "https://kept.example/plan",
            "artifact_title": "My kept plan"})
    assert refused.status_code == 404
    assert 'value="https://kept.example/plan"' in refused.text and 'value="My kept plan"' in refused.text


def test_each_launch_still_acts_on_its_own_attempt(app, browser, two_activities):
    url, a, b, _ = two_activities
    saved = browser.post(url + "/submission/", data={**a, "action": "save", "overview": "A's own text"})
    assert saved.status_code == 200 and "Saved." in saved.text
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        assert db.session.get(Attempt, int(a["attempt_id"])).overview == "A's own text"
        assert db.session.get(Attempt, int(b["attempt_id"])).overview == "B's own text"


def test_the_page_of_one_activity_gives_no_link_to_anothers_files(app, browser, two_activities):
    url, a, b, (_, file_id) = two_activities
    page_a = browser.get(url + "/submission/", params={"ltik": a["ltik"]})
    assert f"/files/{file_id}" not in page_a.text and "b.pdf" not in page_a.text

    from lti_tool.extensions import db
    from lti_tool.submissions.file_links import reader_file_url
    from lti_tool.submissions.models import Artifact

    with app.test_request_context():
        launch_a, launch_b = launch_context_of(app, a["ltik"]), launch_context_of(app, b["ltik"])
        artifact = db.session.get(Artifact, file_id)
        assert reader_file_url(launch_a, artifact) is None  # the launch of A is given no link to B's file
        assert reader_file_url(launch_b, artifact) is not None


def test_the_same_micro_credential_placed_twice_shares_one_attempt(app, browser, catalog):
    first, one = _page(browser, A, "placement-1")
    second, two = _page(browser, A, "placement-2")
    assert one["attempt_id"] == two["attempt_id"]
    saved = browser.post(_origin(second) + "/submission/", data={**two, "action": "save", "overview": "Shared"})
    assert saved.status_code == 200 and "Saved." in saved.text
    again, three = _page(browser, A, "placement-1")
    assert "Shared" in again.text and three["attempt_id"] == one["attempt_id"]


# -- without a launch reference, an artifact URL says nothing about what exists --------------------------------
def _answer(response) -> tuple:
    headers = {name: value for name, value in response.headers.items() if name.lower() not in ("date",)}
    return response.status_code, response.content, tuple(sorted(headers.items()))


def test_without_a_reference_an_artifact_url_answers_the_same_whether_it_exists_or_not(
        app, browser, two_activities, live_tool):
    import requests

    url, a, _, (link_id, file_id) = two_activities
    missing = max(link_id, file_id) + 1000
    stranger = requests.Session()  # no launch, no cookie, no file link
    variants = [
        lambda i: stranger.get(f"{url}/files/{i}"),
        lambda i: stranger.head(f"{url}/files/{i}"),
        lambda i: stranger.get(f"{url}/files/{i}", params={"t": "forged.token"}),
        lambda i: stranger.get(f"{url}/files/{i}", params={"t": a["ltik"]}),  # a launch reference is no file link
        lambda i: stranger.get(f"{url}/files/{i}", headers={"Accept": "application/json"}),
        lambda i: stranger.post(f"{url}/artifacts/{i}/remove"),
        lambda i: stranger.post(f"{url}/artifacts/{i}/remove", headers={"Accept": "application/json"}),
        lambda i: stranger.post(f"{url}/artifacts/{i}/replace", data=PDF, headers={
            "Content-Type": "application/octet-stream", "X-File-Name": quote("x.pdf")}),
        lambda i: stranger.post(f"{url}/artifacts/{i}/replace", files={"artifact_file": ("x.pdf", PDF)}),
    ]
    for number, variant in enumerate(variants):
        with nothing_changes(app):
            answers = {_answer(variant(i)) for i in (file_id, link_id, missing)}
        assert len(answers) == 1, (number, answers)
        ((status, _, _),) = answers
        assert status in (401, 403, 404), (number, status)


def test_a_launch_of_one_activity_cannot_start_the_resubmission_of_another(app, browser, platform):
    """B's attempt has a released *Not yet*, so its own page may start a resubmission; the launch of A naming B's
    attempt is "not found" and opens no attempt."""
    from lti_tool.core.dates import utcnow
    from tests.assessment_road import launch_assessor, set_microcredential, submit_work
    from tests.factories import assess_work
    from tests.platform.platform import PEOPLE

    set_microcredential(app, B, double_blind=False)  # one assessor decides
    submitted = submit_work(platform, slug=B, resource_link_id="activity-b", file_name=None)
    launch_assessor(platform)  # the assessor is known to the tool
    now = utcnow()
    assess_work(app, PEOPLE["learner"].sub, "notyet", now, release_at=now, slug=B,
                assessors=(PEOPLE["assessor"].sub,))
    page_a, a = _page(submitted.browser, A, "activity-a")
    url = _origin(page_a)
    with nothing_changes(app):
        refused = submitted.browser.post(url + "/submission/resubmit", data={
            "ltik": a["ltik"], "attempt_id": submitted.attempt_id, "action": "resubmit"})
    assert refused.status_code == 404, refused.text[:300]
    # the same form with B's own launch does start it: the refusal above is the launch's scope, nothing else
    started = submitted.browser.post(url + "/submission/resubmit", data={
        "ltik": submitted.ltik, "attempt_id": submitted.attempt_id, "action": "resubmit"}, allow_redirects=False)
    assert started.status_code == 303 and "notice=resubmission-started" in started.headers["Location"]
