"""Two web servers and two outbox workers on one PostgreSQL, one Redis and one S3 endpoint (cluster/hosts.py).

Everything goes through real HTTP, as browsers and the LMS send it; the test plays the load balancer, choosing
the host of each request (`Cluster.on_host`). `make hosts` runs this module; CI runs it in its PostgreSQL + Redis
run; on SQLite it is skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from html import unescape
from urllib.parse import quote, urljoin

import jwt
import pytest
import requests

from cluster import Cluster
from tests.platform.browser import LaunchResult, PlatformBrowser, forms_in
from tests.platform.platform import PEOPLE as PLATFORM_PEOPLE
from tests.s3_server import S3ServerUnavailable

SLUG = "self-assessment-growth"
PEOPLE = 20
# Each person's scores, in the order they arise: progress, then the decision.
SCORE_STEPS = (("InProgress", "NotReady", None), ("Submitted", "PendingManual", None), ("Completed", "FullyGraded", 7))
DELIVERY_SECONDS = 45

needs_postgresql_and_redis = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"),
    reason="several hosts share PostgreSQL and Redis: set DATABASE_URL=postgresql://… and REDIS_URL=redis://… "
           "(make hosts)")


class BalancedBrowser(PlatformBrowser):
    """A person's browser behind the load balancer: each request to the tool goes to host `self.host`."""

    def __init__(self, cluster: Cluster, host: int = 0):
        super().__init__(cluster.platform)
        self.cluster, self.host = cluster, host

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        return super()._send(method, self.cluster.on_host(url, self.host), **kwargs)


@pytest.fixture
def cluster(tmp_path, empty_database_url):
    # Rounds of one message: while a worker sends a person's score, the other may claim that person's next one
    # (queued right after it) — unless the outbox keeps it waiting in line, as it must for "in order".
    settings = {"OUTBOX_BATCH_SIZE": 1, "OUTBOX_POLL_SECONDS": 0.1}
    try:
        with Cluster(tmp_path / "cluster", database_url=empty_database_url, redis_url=os.environ["REDIS_URL"],
                     web_concurrency=1, settings=settings, lms_latency=0.02) as running:
            yield running
    except S3ServerUnavailable as error:
        if os.environ.get("REQUIRE_S3") == "1":
            raise
        pytest.skip(f"no S3 endpoint: {error}")


@pytest.mark.postgres
@needs_postgresql_and_redis
def test_two_hosts_share_launches_files_keys_and_the_outbox(cluster):
    a_launch_on_one_host_continues_on_the_other(cluster)
    a_rotated_key_is_served_and_used_by_both_hosts(cluster)
    two_workers_deliver_every_score_once_in_order(cluster)


def a_launch_on_one_host_continues_on_the_other(cluster: Cluster) -> None:
    """The login on host 0, the launch on host 1; the page, autosave, a file and the submission go back and forth."""
    host_0, host_1 = cluster.web_urls
    browser = BalancedBrowser(cluster, host=0)
    login, _ = cluster.platform.next_launch(person="learner", custom={"microcredential": SLUG})
    id_token, state = browser.authorize(browser.start_login(login))  # host 0 keeps the state and nonce (Redis)
    browser.host = 1  # the LMS's auto-posted id_token reaches the other host
    launch = LaunchResult(response=browser.post_launch(id_token, state), id_token=id_token, state=state)
    assert launch.status_code == 200, launch.text[:500]
    assert launch.url.startswith(host_1 + "/submission/"), launch.url
    ltik, attempt_id = launch.ltik, attempt_field(launch.response, "attempt_id")

    browser.host = 0  # the same launch reference, the next requests on host 0
    page = browser.get(launch.url)
    assert page.status_code == 200, page.text[:500]
    assert page.url.startswith(host_0 + "/submission/")
    saved = browser.post(host_0 + "/submission/autosave", data={
        "ltik": ltik, "attempt_id": attempt_id, "version": attempt_field(page, "version"),
        "overview": "Typed on host 0.", "reflection": "Still host 0.", "collaboration": "no"})
    assert saved.status_code == 200, saved.text[:500]
    browser.host = 1  # ... and host 1 shows what was saved
    shown = browser.get(launch.url).text
    assert "Typed on host 0." in shown and "Still host 0." in shown

    browser.host = 0  # a file through host 0
    body = b"%PDF-1.7\n" + os.urandom(200_000)
    uploaded = browser.post(host_0 + "/artifacts/upload", params={"attempt_id": attempt_id, "title": "Lesson plan"},
                            data=body, headers={"Content-Type": "application/octet-stream", "X-Launch-Token": ltik,
                                                "X-File-Name": quote("lesson plan.pdf"), "Accept": "application/json"})
    assert uploaded.status_code == 201, uploaded.text[:500]
    page_on_0 = browser.get(launch.url)
    link = file_link(page_on_0.text, "Lesson plan")

    browser.host = 1  # ... downloaded through host 1, with the link host 0 gave
    download = browser.get(host_1 + link, allow_redirects=False)
    assert download.status_code in (302, 303), download.text[:500]
    location = download.headers["Location"]
    assert location.startswith(cluster.s3.endpoint_url + "/"), location  # the bytes come from S3, not from host 1
    from_s3 = requests.get(location, timeout=10)
    assert from_s3.status_code == 200
    assert hashlib.sha256(from_s3.content).hexdigest() == hashlib.sha256(body).hexdigest()
    assert from_s3.headers["Content-Disposition"].startswith("attachment")

    page = browser.get(launch.url)  # submitted on host 1 ...
    confirmed = browser.post(host_1 + "/submission/", data={
        "ltik": ltik, "attempt_id": attempt_id, "version": attempt_field(page, "version"), "action": "confirm"},
        allow_redirects=False)
    assert confirmed.status_code == 303, confirmed.text[:500]
    browser.host = 0  # ... and host 0 shows it submitted
    assert "notice=submitted" in confirmed.headers["Location"]
    assert re.search(r"\bSubmitted\b", browser.get(urljoin(confirmed.url, confirmed.headers["Location"])).text)
    learner = PLATFORM_PEOPLE["learner"].sub  # and a worker tells the LMS
    progress = wait_for(lambda: [s["activityProgress"] for s in cluster.platform.services.scores_for()
                                 if s["userId"] == learner], ["InProgress", "Submitted"])
    assert progress == ["InProgress", "Submitted"]


def a_rotated_key_is_served_and_used_by_both_hosts(cluster: Cluster) -> None:
    """`flask keys rotate` on host 0: both hosts publish the new key at once, and host 1 signs with it."""
    old_kids = jwks_kids(cluster.web_urls[1])
    new_kid = cluster.run_flask("keys", "rotate", host=0).rsplit(" ", 1)[-1]
    assert new_kid not in old_kids
    for url in cluster.web_urls:
        assert jwks_kids(url) == old_kids | {new_kid}, url  # the old key stays published for messages in flight

    browser = BalancedBrowser(cluster, host=1)
    picker = browser.launch(person="instructor", message_type="LtiDeepLinkingRequest")
    assert picker.status_code == 200, picker.text[:500]
    assert picker.url.startswith(cluster.web_urls[1])
    response = browser.submit_form(picker.response, microcredential=SLUG)  # the instructor picks one
    assert response.status_code == 200, response.text[:500]
    assert response.url.startswith(cluster.web_urls[1])
    answer = forms_in(response.text)[0]
    assert jwt.get_unverified_header(answer["fields"]["JWT"])["kid"] == new_kid
    returned = requests.post(answer["action"], data=answer["fields"], timeout=10)  # the LMS verifies it
    assert returned.status_code == 200, returned.text
    assert len(cluster.platform.deep_link_responses) == 1


def two_workers_deliver_every_score_once_in_order(cluster: Cluster) -> None:
    """60 scores of 20 people (three each, queued a few ms apart) reach the LMS once each, in order, sent by both
    workers, which take one message per round: a person's next score is due while the previous one is being sent."""
    for n in range(PEOPLE):  # each person launches once, on either host
        browser = BalancedBrowser(cluster, host=n % 2)
        launch = browser.launch(person="learner", resource_link_id="activity-scores",
                                custom={"microcredential": SLUG}, claims=person(n))
        assert launch.status_code == 200, launch.text[:500]
    posts_before = len(cluster.platform_requests())
    queued = cluster.run_python(QUEUE_SCORES.format(people=PEOPLE, steps=SCORE_STEPS), host=0)
    assert queued == str(PEOPLE * len(SCORE_STEPS))

    services = cluster.platform.services
    wait_for(lambda: len(received_scores(services)), PEOPLE * len(SCORE_STEPS))
    time.sleep(1)  # anything sent twice would arrive now
    received = received_scores(services)
    assert len(received) == PEOPLE * len(SCORE_STEPS), f"{len(received)} scores in the LMS"
    by_person: dict[str, list[dict]] = {}
    for score in received:
        by_person.setdefault(score["userId"], []).append(score)
    assert len(by_person) == PEOPLE
    for sub, scores in by_person.items():
        assert [s["activityProgress"] for s in scores] == [step[0] for step in SCORE_STEPS], sub
        timestamps = [s["timestamp"] for s in scores]
        assert timestamps == sorted(set(timestamps)), sub
    assert not [s for s in services.ignored_scores if s["userId"].startswith("user-hosts-")]
    assert len({item for item, scores in services.scores.items()
                if any(s["userId"].startswith("user-hosts-") for s in scores)}) == 1  # one column, made once

    senders = Counter(sender for sender, method, path in cluster.platform_requests()[posts_before:]
                      if method == "POST" and path.endswith("/scores"))
    assert set(senders) == {"worker-0", "worker-1"}, senders  # only the workers send, and both did
    assert sum(senders.values()) == len(received)


# -- helpers ----------------------------------------------------------------------------------------------------
QUEUE_SCORES = """
import time
from wsgi import app
from lti_tool.extensions import db
from lti_tool.gradebook.services import enqueue_score
from lti_tool.lti.models import LtiUser, ResourceLink

with app.app_context():
    link = db.session.scalar(db.select(ResourceLink).where(ResourceLink.resource_link_id == "activity-scores"))
    people = db.session.scalars(db.select(LtiUser).where(LtiUser.sub.like("user-hosts-%"))).all()
    assert len(people) == {people}, len(people)
    queued = 0
    for person in people:  # each person's scores back to back: next to each other in the outbox
        for activity, grading, given in {steps}:
            queued += len(enqueue_score(link, person, activity, grading, given, score_maximum=given and 10))
            db.session.commit()
            time.sleep(0.005)  # the next score is later than this one, to the millisecond the LMS reads
    print(queued)
"""


def person(n: int) -> dict:
    return {"sub": f"user-hosts-{n:02d}", "name": f"Educator {n:02d}", "given_name": "Educator",
            "family_name": f"{n:02d}", "email": f"educator{n:02d}@school.example"}


def received_scores(services) -> list[dict]:
    return [s for s in services.scores_for() if s["userId"].startswith("user-hosts-")]


def wait_for(observe, expected, seconds: float = DELIVERY_SECONDS):
    """What `observe()` says once it says `expected`, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while (seen := observe()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return seen


def attempt_field(response, name: str) -> str:
    for form in forms_in(response.text):
        if form["fields"].get(name):
            return form["fields"][name]
    raise AssertionError(f"no {name} on {response.url}: {response.text[:300]}")


def file_link(html: str, label: str) -> str:
    """The page's link to a file (its path and query), found by its text."""
    for href, text in re.findall(r'<a[^>]+href="(/files/[^"]+)"[^>]*>(.*?)</a>', html, re.DOTALL):
        if unescape(text).strip() == label:
            return unescape(href)
    raise AssertionError(f"no link “{label}” on the page")


def jwks_kids(url: str) -> set[str]:
    response = requests.get(url + "/lti/jwks", timeout=5)
    assert response.status_code == 200
    return {key["kid"] for key in response.json()["keys"]}


@pytest.mark.parametrize(("database_url", "redis_url"), [
    ("sqlite:///one-file-per-machine.sqlite", "redis://127.0.0.1:6379/0"),
    ("postgresql://mcb:mcb@127.0.0.1:5432/mcb", ""),
])
def test_a_cluster_needs_a_shared_postgresql_and_redis(tmp_path, database_url, redis_url):
    with pytest.raises(ValueError, match="Several hosts share one"):
        Cluster(tmp_path, database_url=database_url, redis_url=redis_url)
