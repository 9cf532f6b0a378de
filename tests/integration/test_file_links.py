"""File links over real HTTP: one artifact, one reader, read only, for minutes — and no launch reference in them."""

from __future__ import annotations

import base64
import json
import time
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.test_uploads import MP4, PDF, Educator, artifacts, launch_educator, launch_other, raw_upload
from tests.nothing_changed import nothing_changes
from tests.platform.browser import PlatformBrowser

pytestmark = pytest.mark.usefixtures("running_term")

EXPIRED = "This download link has expired; open it again from the page it came from."


@pytest.fixture
def educator(app, browser, catalog) -> Educator:
    return launch_educator(app, browser)


@pytest.fixture
def short_file_links(app):
    """File links that live one second (the setting is read when a link is opened)."""
    saved = app.config["LTI_DOWNLOAD_URL_MAX_AGE"]
    app.config["LTI_DOWNLOAD_URL_MAX_AGE"] = 1
    yield
    app.config["LTI_DOWNLOAD_URL_MAX_AGE"] = saved


def _uploaded(browser, tool_url, educator, name="lesson-plan.pdf", body=PDF) -> dict:
    response = raw_upload(browser, tool_url, educator, name, body)
    assert response.status_code == 201, response.text
    return response.json()


def _token(url: str) -> str:
    (token,) = parse_qs(urlsplit(url).query)["t"]
    return token


def _payload(token: str) -> dict:
    """What anyone holding the link can read of it (signed, not encrypted; itsdangerous zlib-compresses a payload
    that gains from it and marks it with a leading dot)."""
    compressed = token.startswith(".")
    data = token.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


def test_a_file_link_names_one_file_and_no_launch_reference(app, browser, live_tool, educator):
    uploaded = _uploaded(browser, live_tool.url, educator)
    url = uploaded["download_url"]
    assert urlsplit(url).path == f"/files/{uploaded['id']}"
    assert set(parse_qs(urlsplit(url).query)) == {"t"}  # no ltik, nothing else
    assert educator.ltik not in url
    # ids and flags only: the reader, the file, why (their own work), how (an attachment) and the browser's hash
    payload = _payload(_token(url))
    assert payload == {"a": uploaded["id"], "u": educator.user_id, "d": payload["d"], "g": "own", "r": None, "i": 0,
                       "b": payload["b"], "s": payload["s"]}
    assert payload["b"] not in browser.session.cookies.get("lti_browser", "")  # a hash, never the cookie itself
    # opened from another client (a copied link), within its minutes, it gives this one file and nothing else
    copied = PlatformBrowser(browser.platform)
    got = copied.get(live_tool.url + url)
    assert got.status_code == 200 and got.content == PDF
    # it is no launch reference: no page opens with it
    with nothing_changes(app):
        assert copied.get(live_tool.url + "/submission/", params={"ltik": _token(url)}).status_code == 403


def test_a_copied_file_link_is_refused_after_its_lifetime(app, browser, live_tool, educator, short_file_links):
    uploaded = _uploaded(browser, live_tool.url, educator, name="lesson.mp4", body=MP4)
    copied = PlatformBrowser(browser.platform)
    for url in (uploaded["download_url"], uploaded["play_url"]):
        assert copied.get(live_tool.url + url).status_code == 200
    time.sleep(2.2)
    for url in (uploaded["download_url"], uploaded["play_url"]):
        late = copied.get(live_tool.url + url, headers={"Accept": "text/html"})
        assert late.status_code == 410, late.text[:300]
        assert EXPIRED in late.text
        assert MP4 not in late.content
        late_range = copied.get(live_tool.url + url, headers={"Range": "bytes=0-7"})
        assert late_range.status_code == 410  # a player seeking later gets nothing either
        # in the browser whose launch it was issued to, a player left open for long still plays
        own = browser.get(live_tool.url + url, headers={"Range": "bytes=0-7"})
        assert own.status_code == 206 and own.content == MP4[:8]
    # ... but not beyond its session
    app.config["LTI_SESSION_MAX_AGE"], saved = 1, app.config["LTI_SESSION_MAX_AGE"]
    try:
        assert browser.get(live_tool.url + uploaded["play_url"], headers={"Range": "bytes=0-7"}).status_code == 410
    finally:
        app.config["LTI_SESSION_MAX_AGE"] = saved
    # the page that lists the file gives a fresh link each time it is shown
    page = browser.get(live_tool.url + "/submission/", params={"ltik": educator.ltik})
    assert page.status_code == 200
    fresh = [u for u in _file_links(page.text) if urlsplit(u).path == f"/files/{uploaded['id']}"]
    assert fresh and all(_token(u) != _token(uploaded["download_url"]) for u in fresh)
    assert browser.get(live_tool.url + fresh[0]).status_code == 200


def _file_links(html: str) -> list[str]:
    import html as html_module
    import re

    return [html_module.unescape(u) for u in re.findall(r'(?:href|src)="(/files/[^"]+)"', html)]


def test_one_files_link_does_not_open_another_file(app, browser, live_tool, educator):
    first = _uploaded(browser, live_tool.url, educator)
    second = _uploaded(browser, live_tool.url, educator, name="second.pdf", body=PDF + b"% second\n")
    token = _token(first["download_url"])
    assert browser.get(f"{live_tool.url}/files/{second['id']}", params={"t": token}).status_code == 404
    assert browser.get(f"{live_tool.url}/files/{first['id']}", params={"t": token}).status_code == 200
    # nor does a link whose payload was changed to name the other file (the signature covers it)
    data, rest = token.split(".", 1)
    payload = _payload(token) | {"a": second["id"]}
    forged = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    assert browser.get(f"{live_tool.url}/files/{second['id']}", params={"t": f"{forged}.{rest}"}).status_code == 404
    assert browser.get(f"{live_tool.url}/files/{first['id']}").status_code == 404  # no token
    # a removed file's link opens nothing
    removed = browser.post(f"{live_tool.url}/artifacts/{second['id']}/remove", data={"ltik": educator.ltik},
                           headers={"Accept": "application/json"})
    assert removed.status_code == 200, removed.text[:300]
    assert browser.get(live_tool.url + second["download_url"]).status_code == 404


def test_a_file_link_is_read_only(app, browser, live_tool, educator):
    uploaded = _uploaded(browser, live_tool.url, educator)
    url = live_tool.url + uploaded["download_url"]
    token = _token(uploaded["download_url"])
    with nothing_changes(app):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert browser.request(method, url, data=b"x").status_code == 405, method
        # its token is no launch reference for a change either: not in the body, not in the header
        remove = f"{live_tool.url}/artifacts/{uploaded['id']}/remove"
        assert browser.post(remove, data={"ltik": token}).status_code == 403
        assert browser.post(remove, headers={"X-Launch-Token": token, "Accept": "application/json"}).status_code == 403
        replaced = raw_upload(browser, live_tool.url, Educator(ltik=token, attempt_id=educator.attempt_id, user_id=0),
                              "other.pdf", PDF, title="Planted")
    assert replaced.status_code == 403
    assert [a.file_name for a in artifacts(app, educator.attempt_id)] == ["lesson-plan.pdf"]
    assert browser.request("HEAD", url).status_code == 200  # reading it still works


def test_links_are_given_only_to_readers_and_checked_again_when_opened(app, browser, live_tool, educator):
    from lti_tool.extensions import db
    from lti_tool.submissions.file_links import reader_file_url
    from lti_tool.submissions.models import Artifact
    from tests.integration.test_uploads import launch_context_of

    uploaded = _uploaded(browser, live_tool.url, educator)
    others = PlatformBrowser(browser.platform)
    readers = {
        "assessor": launch_other(others, "assessor"),  # assessors read through the blind scoring page only
        "instructor-elsewhere": launch_other(others, "instructor", context_id="course-2"),
        "instructor-here": launch_other(others, "instructor"),
    }
    with app.test_request_context(base_url=live_tool.url):
        artifact = db.session.get(Artifact, uploaded["id"])
        links = {who: reader_file_url(launch_context_of(app, ltik), artifact) for who, ltik in readers.items()}
    assert links["assessor"] is None and links["instructor-elsewhere"] is None
    assert _payload(_token(links["instructor-here"]))["g"] == "course"
    assert others.get(live_tool.url + links["instructor-here"]).status_code == 200
